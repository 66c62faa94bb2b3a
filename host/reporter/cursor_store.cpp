#include "reporter/cursor_store.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "capture/json_text.hpp"
#include "common/file_head.hpp"
#include "diag/log.hpp"

namespace pyhost::reporter {

std::optional<std::string> journal_fingerprint(const std::string& journal_path) {
    constexpr std::size_t k_prefix = 128;
    char head[k_prefix];
    const ssize_t got = read_file_head(journal_path.c_str(), head, k_prefix);
    if (got < 0) {
        return std::nullopt;
    }
    const auto size = static_cast<std::size_t>(got);
    const void* newline = std::memchr(head, '\n', size);
    if (newline == nullptr && size < k_prefix) {
        return std::nullopt;  // no complete first line yet
    }
    const std::size_t length = newline != nullptr ? static_cast<std::size_t>(static_cast<const char*>(newline) - head) : size;
    std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a, 64 bits
    for (std::size_t i = 0; i < length; ++i) {
        hash = (hash ^ static_cast<unsigned char>(head[i])) * 0x100000001b3ULL;
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
    return std::string(hex);
}

CursorStore::CursorStore(const std::string& journal_path)
    : m_journal_path(journal_path), m_path(journal_path + ".cursors"), m_fingerprint(journal_fingerprint(journal_path)) {
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
    const boost::json::object& file = value.as_object();
    const boost::json::object* sinks = &file;  // the earlier form: the sinks' object alone
    if (const auto* named = file.if_contains("sinks"); named != nullptr && named->is_object()) {
        sinks = &named->as_object();
        const auto* journal = file.if_contains("journal");
        if (journal == nullptr || !journal->is_string() || !m_fingerprint || journal->as_string() != *m_fingerprint) {
            PYHOST_LOG(info) << m_path << " belongs to an earlier journal at this path; " << journal_path
                             << " is delivered from its beginning";
            return;
        }
    }
    struct stat st {};
    const std::uint64_t journal_size = ::stat(journal_path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
    for (const auto& [sink, offset] : *sinks) {
        // Past the journal's end, an offset is another journal's (or the earlier form's
        // journal was replaced): delivered from the beginning instead.
        if (offset.is_int64() && offset.as_int64() >= 0 && static_cast<std::uint64_t>(offset.as_int64()) <= journal_size) {
            m_offsets[std::string(sink)] = static_cast<std::uint64_t>(offset.as_int64());
        }
    }
}

CursorStore::~CursorStore() {
    if (m_fd >= 0) {
        ::close(m_fd);
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

void CursorStore::journal_restarted() {
    std::lock_guard lock(m_mutex);
    m_fingerprint.reset();
}

void CursorStore::warn_once(const char* reason) {
    if (!m_warned) {
        m_warned = true;
        PYHOST_LOG(warning) << "cannot save " << m_path << " (" << reason << "); delivery progress is not saved";
    }
}

bool CursorStore::open_file() {
    struct stat st {};
    if (m_fd >= 0) {
        // Still the file at m_path? One removed or replaced (a clean-up of the directory,
        // a rotation) is created anew rather than written unseen.
        if (::stat(m_path.c_str(), &st) == 0 && st.st_ino == m_inode && st.st_dev == m_device) {
            return true;
        }
        ::close(m_fd);
        m_fd = -1;
    }
    m_fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (m_fd < 0 || ::fstat(m_fd, &st) != 0) {
        warn_once(std::strerror(errno));
        if (m_fd >= 0) {
            ::close(m_fd);
            m_fd = -1;
        }
        return false;
    }
    m_inode = st.st_ino;
    m_device = st.st_dev;
    m_file_size = static_cast<std::size_t>(st.st_size);  // an earlier run's text may be longer
    return true;
}

void CursorStore::save_locked() {
    m_unsaved = false;
    m_saved_at = std::chrono::steady_clock::now();
    if (!m_fingerprint) {
        m_fingerprint = journal_fingerprint(m_journal_path);  // an offset past 0: a first line exists
    }
    std::string text = "{\"journal\":";
    capture::json::append_string(text, m_fingerprint.value_or(""));
    text += ",\"sinks\":{";
    bool first = true;
    for (const auto& [sink, offset] : m_offsets) {
        text += first ? "" : ",";
        first = false;
        capture::json::append_string(text, sink);
        text += ':' + std::to_string(offset);
    }
    text += "}}\n";
    if (!open_file()) {
        return;
    }
    if (text.size() < m_file_size) {
        text.insert(text.size() - 1, m_file_size - text.size(), ' ');  // blanks before the newline
    }
    const ssize_t written = ::pwrite(m_fd, text.data(), text.size(), 0);
    if (written != static_cast<ssize_t>(text.size())) {
        warn_once(written < 0 ? std::strerror(errno) : "a short write");
        return;
    }
    m_file_size = text.size();
    m_warned = false;
}

}  // namespace pyhost::reporter
