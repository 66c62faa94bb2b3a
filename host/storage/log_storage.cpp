#include "storage/log_storage.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <tuple>

#include <boost/json.hpp>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/env.hpp"
#include "diag/log.hpp"
#include "reporter/curl_api.hpp"
#include "reporter/http_client.hpp"
#include "storage/files.hpp"
#include "storage/s3_client.hpp"

namespace pyhost::storage {
namespace {

const char* driver_name(Driver driver) { return driver == Driver::s3 ? "s3" : "local"; }

// Uploads `source` to `url` (s3://bucket/key).
std::string upload(const std::string& source, const std::string& url, std::string_view content_type) {
    std::string error;
    const auto where = parse_s3_url(url, error);
    if (!where) {
        return error;
    }
    try {
        S3Config config = S3Config::from_environment();
        const reporter::CurlApi& curl = curl_for(config);
        S3Client client(curl, std::move(config), reporter::TlsOptions::from_environment());
        const S3Result result = client.put_file(*where, source, content_type);
        return result.ok ? std::string() : result.error;
    } catch (const StorageError& failure) {
        return failure.what();
    }
}

}  // namespace

LogsLocation LogsLocation::from_environment() {
    LogsLocation out;
    out.location = without_trailing_slashes(env("LOGS_LOCATION"));
    if (out.location.empty()) {
        out.location = "/tmp/executor_logs";
    }
    const bool is_s3_url = out.location.starts_with("s3://");
    const std::string driver = env("STORAGE_DRIVER");
    if (driver.empty()) {
        out.driver = is_s3_url ? Driver::s3 : Driver::local;
    } else if (driver == "local") {
        out.driver = Driver::local;
    } else if (driver == "s3") {
        out.driver = Driver::s3;
    } else {
        throw StorageError("STORAGE_DRIVER=" + driver + ": not a storage driver (local or s3)");
    }
    if (out.driver == Driver::s3 && !is_s3_url) {
        throw StorageError("STORAGE_DRIVER=s3 needs LOGS_LOCATION=s3://BUCKET[/PREFIX], not " + out.location);
    }
    if (out.driver == Driver::local && is_s3_url) {
        throw StorageError("LOGS_LOCATION=" + out.location + " is an S3 URL but STORAGE_DRIVER=local");
    }
    if (out.driver == Driver::s3) {
        std::string error;
        const auto where = parse_s3_url(out.location, error);
        if (!where) {
            throw StorageError("LOGS_LOCATION: " + error);
        }
        (void)S3Config::from_environment();  // credentials missing: say so before the run, not after
    }
    return out;
}

std::string dated_target(const LogsLocation& location, std::chrono::system_clock::time_point when, std::string_view name) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char date[16];
    std::strftime(date, sizeof date, "%Y/%m/%d", &utc);
    std::string base = location.location;
    if (!base.ends_with("/")) {
        base += "/";
    }
    return base + date + "/" + std::string(name);
}

SpooledLog SpooledLog::create(const std::string& spool, std::string_view name, Driver driver, std::string target) {
    if (!make_directories(spool)) {
        throw StorageError("cannot create the spool " + spool + ": " + std::strerror(errno));
    }
    SpooledLog log;
    const std::string base = spool + "/" + std::string(name);
    log.m_marker = base + ".save";
    log.m_journal = base + ".jsonl";
    log.m_text_log = base + ".log";
    log.m_driver = driver;
    log.m_target = std::move(target);
    log.m_lock_fd = ::open(log.m_marker.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (log.m_lock_fd < 0) {
        throw StorageError("cannot create " + log.m_marker + ": " + std::strerror(errno) +
                           (errno == EEXIST ? " (a run with this runtime id exists)" : ""));
    }
    (void)::flock(log.m_lock_fd, LOCK_EX | LOCK_NB);
    log.write_marker();
    return log;
}

std::vector<SpooledLog> SpooledLog::pending(const std::string& spool) {
    std::vector<SpooledLog> out;
    DIR* dir = ::opendir(spool.c_str());
    if (dir == nullptr) {
        return out;
    }
    while (const dirent* entry = ::readdir(dir)) {
        const std::string name = entry->d_name;
        if (!name.ends_with(".save")) {
            continue;
        }
        SpooledLog log;
        log.m_marker = spool + "/" + name;
        log.m_lock_fd = ::open(log.m_marker.c_str(), O_RDWR | O_CLOEXEC);
        if (log.m_lock_fd < 0 || ::flock(log.m_lock_fd, LOCK_EX | LOCK_NB) != 0) {
            continue;  // a live run (or another replay) holds it
        }
        std::ifstream in(log.m_marker);
        std::stringstream text;
        text << in.rdbuf();
        boost::system::error_code error;
        const boost::json::value marker = boost::json::parse(text.str(), error);
        const boost::json::object* fields = !error ? marker.if_object() : nullptr;
        const auto string_field = [&](const char* key) -> std::string {
            const boost::json::value* value = fields != nullptr ? fields->if_contains(key) : nullptr;
            return value != nullptr && value->is_string() ? std::string(value->as_string()) : std::string();
        };
        log.m_journal = string_field("journal");
        log.m_text_log = string_field("text_log");
        log.m_target = string_field("target");
        const std::string driver = string_field("driver");
        log.m_driver = driver == "s3" ? Driver::s3 : Driver::local;
        const boost::json::value* saved = fields != nullptr ? fields->if_contains("saved") : nullptr;
        log.m_saved = saved != nullptr && saved->is_bool() && saved->as_bool();
        if (log.m_journal.empty() || log.m_target.empty() || (driver != "s3" && driver != "local")) {
            diag::to_stderr("pyhost: replay: ", log.m_marker, " is not a spooled log's marker; left alone\n");
            continue;
        }
        out.push_back(std::move(log));
    }
    ::closedir(dir);
    return out;
}

SpooledLog::SpooledLog(SpooledLog&& other) noexcept
    : m_marker(std::move(other.m_marker)),
      m_journal(std::move(other.m_journal)),
      m_text_log(std::move(other.m_text_log)),
      m_driver(other.m_driver),
      m_target(std::move(other.m_target)),
      m_saved(other.m_saved),
      m_lock_fd(other.m_lock_fd) {
    other.m_lock_fd = -1;
}

SpooledLog::~SpooledLog() {
    if (m_lock_fd >= 0) {
        ::close(m_lock_fd);
    }
}

void SpooledLog::release_lock() {
    if (m_lock_fd >= 0) {
        ::close(m_lock_fd);
        m_lock_fd = -1;
    }
}

void SpooledLog::write_marker() const {
    boost::json::object marker;
    marker["driver"] = driver_name(m_driver);
    marker["target"] = m_target;
    marker["journal"] = m_journal;
    marker["text_log"] = m_text_log;
    marker["saved"] = m_saved;
    const std::string text = boost::json::serialize(marker) + "\n";
    // Rewritten in place under the lock: the marker is small and read only under the lock.
    if (::ftruncate(m_lock_fd, 0) != 0 || ::pwrite(m_lock_fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
        PYHOST_LOG(error) << "cannot write " << m_marker << ": " << std::strerror(errno);
    }
    (void)::fsync(m_lock_fd);
}

std::string SpooledLog::save() {
    if (m_saved) {
        return {};
    }
    std::string error;
    for (const auto& [source, extension, content_type] :
         {std::tuple{m_journal, ".jsonl", "application/x-ndjson"}, std::tuple{m_text_log, ".log", "text/plain; charset=utf-8"}}) {
        if (::access(source.c_str(), F_OK) != 0) {
            continue;  // a run that wrote nothing there (a journal that could not be opened)
        }
        const std::string destination = m_target + extension;
        error = m_driver == Driver::s3 ? upload(source, destination, content_type)
                                       : copy_file_atomically(source, destination);
        if (!error.empty()) {
            return "cannot save " + source + " to " + destination + ": " + error;
        }
    }
    m_saved = true;
    write_marker();
    return {};
}

void SpooledLog::remove() {
    for (const std::string& path : {m_journal, m_text_log, m_journal + ".cursors", m_marker}) {
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            PYHOST_LOG(warning) << "cannot remove " << path << ": " << std::strerror(errno);
        }
    }
}

}  // namespace pyhost::storage
