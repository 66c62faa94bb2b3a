#include "reporter/cursor_store.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>

#include "capture/json_text.hpp"
#include "diag/log.hpp"

namespace pyhost::reporter {

CursorStore::CursorStore(const std::string& journal_path) : m_path(journal_path + ".cursors") {
    std::ifstream in(m_path);
    if (!in) {
        return;
    }
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code error;
    const boost::json::value value = boost::json::parse(text.str(), error);
    if (error || !value.is_object()) {
        PYHOST_LOG(warning) << m_path << " is not a cursor file; delivery starts from the beginning";
        return;
    }
    for (const auto& [sink, offset] : value.as_object()) {
        if (offset.is_int64() && offset.as_int64() >= 0) {
            m_offsets[std::string(sink)] = static_cast<std::uint64_t>(offset.as_int64());
        }
    }
}

std::uint64_t CursorStore::get(const std::string& sink_id) {
    std::lock_guard lock(m_mutex);
    const auto found = m_offsets.find(sink_id);
    return found == m_offsets.end() ? 0 : found->second;
}

void CursorStore::set(const std::string& sink_id, std::uint64_t offset) {
    std::lock_guard lock(m_mutex);
    m_offsets[sink_id] = offset;
    m_unsaved = true;
    if (std::chrono::steady_clock::now() - m_saved_at >= k_save_interval) {
        save_locked();
    }
}

void CursorStore::save() {
    std::lock_guard lock(m_mutex);
    if (m_unsaved) {
        save_locked();
    }
}

void CursorStore::save_locked() {
    m_unsaved = false;
    m_saved_at = std::chrono::steady_clock::now();
    std::string text = "{";
    bool first = true;
    for (const auto& [sink, offset] : m_offsets) {
        text += first ? "" : ",";
        first = false;
        capture::json::append_string(text, sink);
        text += ':' + std::to_string(offset);
    }
    text += "}\n";
    const std::string temporary = m_path + ".tmp";
    std::FILE* file = std::fopen(temporary.c_str(), "w");
    if (file == nullptr) {
        PYHOST_LOG(warning) << "cannot write " << temporary << "; delivery progress is not saved";
        return;
    }
    const bool written = std::fwrite(text.data(), 1, text.size(), file) == text.size();
    if (std::fclose(file) != 0 || !written || std::rename(temporary.c_str(), m_path.c_str()) != 0) {
        PYHOST_LOG(warning) << "cannot save " << m_path << "; delivery progress is not saved";
    }
}

}  // namespace pyhost::reporter
