#include "capture/final_status.hpp"

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>

#include <boost/json.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/journal_writer.hpp"
#include "capture/json_text.hpp"
#include "diag/log.hpp"

namespace pyhost::capture {
namespace {

using namespace std::chrono;

std::int64_t micros_now() {
    return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// The journal's last complete line, and where the file's complete lines end (a process killed
// in the middle of a write leaves a torn line after it).
struct Tail {
    std::string last_line;
    off_t complete_size = 0;
};

bool read_tail(int fd, Tail& out) {
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        return false;
    }
    // Records are short but a line may be up to 64 KiB of message plus escapes: read back
    // until two newlines (or the start) are in the window.
    off_t window = 4096;
    for (;;) {
        const off_t start = st.st_size > window ? st.st_size - window : 0;
        std::string bytes(static_cast<std::size_t>(st.st_size - start), '\0');
        if (pread(fd, bytes.data(), bytes.size(), start) != static_cast<ssize_t>(bytes.size())) {
            return false;
        }
        const std::size_t end = bytes.rfind('\n');
        if (end == std::string::npos) {
            if (start == 0) {
                out = Tail{};  // no complete line at all
                return true;
            }
            window *= 4;
            continue;
        }
        const std::size_t begin = end == 0 ? std::string::npos : bytes.rfind('\n', end - 1);
        if (begin == std::string::npos && start != 0) {
            window *= 4;
            continue;
        }
        const std::size_t from = begin == std::string::npos ? 0 : begin + 1;
        out.last_line = bytes.substr(from, end - from);
        out.complete_size = start + static_cast<off_t>(end) + 1;
        return true;
    }
}

}  // namespace

FieldList final_status_fields(const run::Outcome& outcome, double duration_s, long max_rss_kib,
                              const UncaughtException* exception) {
    FieldList fields;
    const bool signaled = outcome.kind() == run::Outcome::Kind::signaled;
    const char* status = outcome.kind() == run::Outcome::Kind::timed_out ? "timed_out"
                         : signaled                                      ? "stopped"
                         : outcome.value() == 0                          ? "finished"
                                                                         : "failed";
    fields.add(Field::message, status);
    fields.add(Field::status, status);
    if (signaled) {
        const char* abbrev = sigabbrev_np(outcome.value());
        fields.add(Field::signal, abbrev != nullptr ? std::string("SIG") + abbrev : std::to_string(outcome.value()));
    }
    fields.add_int(Field::exit_code, outcome.shell_status());
    if (exception != nullptr && !exception->type.empty() && outcome.value() != 0) {
        fields.add(Field::exc_type, exception->type);
        fields.add(Field::exc_message, exception->message);
        fields.add(Field::exc, exception->traceback);
    }
    // Seconds with six decimals, formatted by hand: printf's floating point is code that no
    // other part of a run touches, faulted in at every run's end.
    const auto micros = static_cast<std::int64_t>(std::llround(duration_s > 0 ? duration_s * 1e6 : 0.0));
    std::string detail = "\"duration_s\":";
    json::append_int(detail, micros / 1'000'000);
    const std::string fraction = std::to_string(1'000'000 + micros % 1'000'000);  // "1" and six digits
    detail += '.';
    detail.append(fraction, 1, 6);
    if (max_rss_kib > 0) {
        detail += ",\"max_rss_kib\":";
        json::append_int(detail, max_rss_kib);
    }
    fields.add(Field::detail, detail);
    return fields;
}

JournalEnd complete_journal(const std::string& journal_path, const std::string& run_id, const run::Outcome& outcome,
                            double duration_s, long max_rss_kib) {
    const int fd = ::open(journal_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        PYHOST_LOG(error) << "cannot open " << journal_path << " to record how the run ended: " << std::strerror(errno);
        return JournalEnd::failed;
    }
    Tail tail;
    if (!read_tail(fd, tail)) {
        PYHOST_LOG(error) << "cannot read " << journal_path << ": " << std::strerror(errno);
        ::close(fd);
        return JournalEnd::failed;
    }
    std::uint64_t last_seq = 0;
    if (!tail.last_line.empty()) {
        boost::system::error_code error;
        const boost::json::value record = boost::json::parse(tail.last_line, error);
        if (!error && record.is_object()) {
            const boost::json::object& fields = record.as_object();
            const auto* stream = fields.if_contains("stream");
            const auto* status = fields.if_contains("status");
            if (stream != nullptr && stream->is_string() && stream->as_string() == "status" && status != nullptr &&
                status->is_string() && status->as_string() != "running") {
                ::close(fd);
                return JournalEnd::complete;
            }
            if (const auto* seq = fields.if_contains("seq"); seq != nullptr && seq->is_int64() && seq->as_int64() > 0) {
                last_seq = static_cast<std::uint64_t>(seq->as_int64());
            }
        }
    }
    // A torn last record is not a record: cut it, so the journal stays valid JSON Lines. Cut
    // at its own size, the file gives back the disk blocks a killed run had reserved past its
    // end (capture/block_reserve.hpp).
    (void)ftruncate(fd, tail.complete_size);
    ::close(fd);
    {
        JournalWriter writer(journal_path, "", run_id, static_cast<std::int32_t>(::getpid()));
        if (!writer.journal_ok()) {
            return JournalEnd::failed;
        }
        writer.continue_after(last_seq);
        const FieldList fields = final_status_fields(outcome, duration_s, max_rss_kib, nullptr);
        Prelude prelude{};
        prelude.ts_micros = micros_now();
        prelude.pid = static_cast<std::int32_t>(::getpid());
        std::string payload(reinterpret_cast<const char*>(&prelude), sizeof prelude);
        payload += fields.bytes();
        writer.handle(EntryRing::Entry{static_cast<std::uint8_t>(EntryKind::status),
                                       {reinterpret_cast<const std::byte*>(payload.data()), payload.size()}});
        writer.flush(true);
        if (!writer.journal_ok()) {
            return JournalEnd::failed;
        }
    }
    return JournalEnd::completed;
}

}  // namespace pyhost::capture
