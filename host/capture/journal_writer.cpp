#include "capture/journal_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "capture/json_text.hpp"
#include "diag/log.hpp"

namespace pyhost::capture {
namespace {

// A line longer than this is cut into records marked "continued" rather than held forever.
constexpr std::size_t k_max_line = std::size_t{64} << 10;
constexpr std::size_t k_flush_bytes = std::size_t{256} << 10;
// What m_journal and m_text reserve: a flush's worth and the largest stream line escaped.
constexpr std::size_t k_buffer_bytes = k_flush_bytes + 6 * k_max_line + 4096;
// The bytes of a stream line's record besides its prefix and escaped text: seq, timestamp,
// pid, continuation mark, punctuation (about 110 at most), and what json::copy_padded()
// scribbles past a piece (31 at most).
constexpr std::size_t k_line_overhead = 512;

// Opens `path` for appending, creating it if need be; `created` says whether this call did.
int open_append(const std::string& path, bool& created) {
    created = false;
    if (path.empty()) {
        return -1;
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        created = true;
    } else if (errno == EEXIST) {
        fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
    if (fd >= 0 && fd <= 2) {
        // Not where the program expects its own stdin/stdout/stderr (see capture.cpp).
        const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 10);
        ::close(fd);
        fd = moved;
    }
    if (fd < 0) {
        PYHOST_LOG(error) << "cannot open " << path << ": " << std::strerror(errno)
                          << "; the run continues without it";
    }
    return fd;
}

// DEBUG..CRITICAL from a logging level number, for levels a program defined itself.
std::string_view level_of_number(std::int64_t levelno) {
    if (levelno <= 10) return "DEBUG";
    if (levelno <= 20) return "INFO";
    if (levelno <= 30) return "WARNING";
    if (levelno <= 40) return "ERROR";
    return "CRITICAL";
}

void append_key(json::TextBuffer& out, std::string_view key) {
    out += ",\"";
    out += key;
    out += "\":";
}

}  // namespace

JournalWriter::JournalWriter(std::string journal_path, std::string text_log_path, std::string run_id,
                             std::int32_t main_pid)
    : m_journal_path(std::move(journal_path)),
      m_text_log_path(std::move(text_log_path)),
      m_main_pid(main_pid),
      m_journal(k_buffer_bytes),
      m_text(k_buffer_bytes) {
    json::append_string(m_run_id_json, run_id);
    const std::string common = ",\"run_id\":" + m_run_id_json + ",\"stream\":";
    m_line_prefix[0] = json::PaddedText(common + "\"stdout\",\"level\":\"INFO\",\"logger\":null,\"message\":");
    m_line_prefix[1] = json::PaddedText(common + "\"stderr\",\"level\":\"ERROR\",\"logger\":null,\"message\":");
    m_line_prefix[2] = json::PaddedText(common + "\"native\",\"level\":\"INFO\",\"logger\":null,\"fd\":1,\"message\":");
    m_line_prefix[3] = json::PaddedText(common + "\"native\",\"level\":\"ERROR\",\"logger\":null,\"fd\":2,\"message\":");
    m_line_prefix[4] = json::PaddedText(common + "\"native\",\"level\":\"INFO\",\"logger\":null,\"message\":");
    bool created = false;
    m_journal_fd = open_append(m_journal_path, created);
    if (created) {
        m_journal_reserve.attach(m_journal_fd);
    }
    if (m_journal_fd >= 0) {
        // Says "a live process writes this journal" to the reporter of another run, which
        // ships journals left behind (host/reporter/reporter.cpp). Released at exit, also on
        // SIGKILL.
        (void)::flock(m_journal_fd, LOCK_SH | LOCK_NB);
    }
    m_text_fd = open_append(m_text_log_path, created);
    if (created) {
        m_text_reserve.attach(m_text_fd);
    }
    m_partial_bytes = std::make_unique_for_overwrite<char[]>(m_partial.size() * k_max_line);
    for (std::size_t i = 0; i < m_partial.size(); ++i) {
        m_partial[i].bytes = m_partial_bytes.get() + i * k_max_line;
    }
}

JournalWriter::~JournalWriter() {
    flush(true);
    release_reserved_blocks();
    if (m_journal_fd >= 0) {
        ::close(m_journal_fd);
    }
    if (m_text_fd >= 0) {
        ::close(m_text_fd);
    }
}

void JournalWriter::handle(const EntryRing::Entry& entry) {
    Prelude prelude{};
    if (entry.payload.size() < sizeof prelude) {
        return;
    }
    std::memcpy(&prelude, entry.payload.data(), sizeof prelude);
    const auto body = entry.payload.subspan(sizeof prelude);
    const auto kind = static_cast<EntryKind>(entry.kind);
    if (kind == EntryKind::stream) {
        handle_stream(prelude, std::string_view(reinterpret_cast<const char*>(body.data()), body.size()));
    } else {
        handle_fields(kind, prelude, body);
    }
    if (m_journal.size() >= k_flush_bytes || m_text.size() >= k_flush_bytes) {
        flush(false);
    }
}

JournalWriter::PartialLine* JournalWriter::partial_line(const LineKey& key) {
    if (m_last_partial != nullptr && m_last_partial->key == key) {
        return m_last_partial;
    }
    // A slot holds a key's unfinished line; one whose line has ended is free for any key, so
    // only lines open at the same time compete for slots (a pool of forked workers each
    // writing lines in pieces is many keys, but few open lines).
    PartialLine* free_slot = nullptr;
    for (PartialLine& partial : m_partial) {
        if (partial.key == key) {
            return m_last_partial = &partial;
        }
        if (partial.empty() && free_slot == nullptr) {
            free_slot = &partial;
        }
    }
    if (free_slot != nullptr) {
        free_slot->key = key;
        m_last_partial = free_slot;
    }
    return free_slot;  // nullptr: more lines open at once than slots; their pieces are emitted as they come
}

void JournalWriter::make_room(json::TextBuffer& buffer, std::size_t bound) {
    if (buffer.size() + bound > buffer.capacity()) {
        if (&buffer == &m_journal) {
            write_journal();
        } else {
            write_text();
        }
        buffer.reserve(bound);  // grows only for one record larger than the reserve (a huge log message)
    }
}

void JournalWriter::handle_stream(const Prelude& prelude, std::string_view bytes) {
    if (m_text_fd >= 0) {
        make_room(m_text, bytes.size());
        m_text.append(bytes);
    }
    if (prelude.flags & k_echo_of_log_record) {
        return;  // a handler's console copy of a record the journal already holds
    }
    const LineKey key{prelude.pid, prelude.stream, prelude.fd};
    PartialLine* partial = partial_line(key);
    while (!bytes.empty()) {
        const auto newline = bytes.find('\n');
        std::string_view piece = bytes.substr(0, newline);
        if (partial == nullptr || (partial->empty() && newline != std::string_view::npos && piece.size() <= k_max_line)) {
            // The common case, a whole line, needs no copy. (Without a slot, a piece is a
            // record of its own, never lost, marked continued when its line goes on.)
            while (piece.size() > k_max_line) {
                emit_line(key, prelude.ts_micros, piece.substr(0, k_max_line), true);
                piece.remove_prefix(k_max_line);
            }
            emit_line(key, prelude.ts_micros, piece, newline == std::string_view::npos);
        } else {
            if (partial->empty()) {
                partial->ts_micros = prelude.ts_micros;
            }
            // Filled up to k_max_line at most (its reserve): a full one is a record marked
            // continued, and the line goes on in the next.
            for (;;) {
                const std::size_t take = std::min(piece.size(), k_max_line - partial->size);
                std::memcpy(partial->bytes + partial->size, piece.data(), take);
                partial->size += take;
                piece.remove_prefix(take);
                if (piece.empty()) {
                    break;
                }
                emit_line(key, partial->ts_micros, partial->text(), true);
                partial->size = 0;
                partial->ts_micros = prelude.ts_micros;
            }
            if (newline != std::string_view::npos) {
                emit_line(key, partial->ts_micros, partial->text(), false);
                partial->size = 0;
            }
        }
        if (newline == std::string_view::npos) {
            break;
        }
        bytes.remove_prefix(newline + 1);
    }
}

void JournalWriter::continue_after(std::uint64_t last_seq) {
    m_seq = last_seq;
    const std::string digits = std::to_string(last_seq);
    std::memcpy(m_seq_text, digits.data(), digits.size());
    m_seq_digits = digits.size();
}

void JournalWriter::next_seq() {
    ++m_seq;
    // Decimal increment in place: the journal writes about a million of these a second.
    std::size_t i = m_seq_digits;
    while (i > 0) {
        char& digit = m_seq_text[i - 1];
        if (digit != '9') {
            ++digit;
            return;
        }
        digit = '0';
        --i;
    }
    std::memmove(m_seq_text + 1, m_seq_text, m_seq_digits);
    m_seq_text[0] = '1';
    ++m_seq_digits;
}

// The hot path: one stdout/stderr/native line, written straight into the buffer.
void JournalWriter::emit_line(const LineKey& key, std::int64_t ts, std::string_view text, bool continued) {
    constexpr std::string_view open = "{\"seq\":";
    constexpr std::string_view ts_key = ",\"ts\":";
    constexpr std::string_view pid_key = ",\"pid\":";
    constexpr std::string_view continued_mark = ",\"continued\":true";
    constexpr std::string_view close = "}\n";
    std::size_t variant = 0;
    if (key.stream == Stream::stderr_) {
        variant = 1;
    } else if (key.stream == Stream::native) {
        variant = key.fd == 1 ? 2 : key.fd == 2 ? 3 : 4;
    }
    const json::PaddedText& prefix = m_line_prefix[variant];
    // The overhead leaves room for copy_padded()'s garbage past the last piece.
    make_room(m_journal, k_line_overhead + prefix.size() + json::quoted_bound(text.size()));
    next_seq();
    const std::string_view stamp = m_timestamps.format(ts);
    char* out = m_journal.room(0);  // make_room() made the room
    const auto put = [&out](std::string_view bytes) {
        std::memcpy(out, bytes.data(), bytes.size());  // sizes known at compile time: inlined
        out += bytes.size();
    };
    put(open);
    out = json::copy_padded(out, m_seq_text, m_seq_digits);
    put(ts_key);
    out = json::copy_padded(out, stamp.data(), stamp.size());
    if (key.pid != m_main_pid) {
        put(pid_key);
        out = std::to_chars(out, out + 16, key.pid).ptr;
    }
    out = json::copy_padded(out, prefix.data(), prefix.size());
    out = json::write_string(out, text);
    if (continued) {
        put(continued_mark);
    }
    put(close);
    m_journal.commit(out);
    ++m_pending_records;
}

void JournalWriter::begin_record(std::int64_t ts, std::int32_t pid, std::string_view stream) {
    next_seq();
    m_journal += "{\"seq\":";
    m_journal += std::string_view(m_seq_text, m_seq_digits);
    m_journal += ",\"ts\":";
    m_journal += m_timestamps.format(ts);
    if (pid != m_main_pid) {
        append_key(m_journal, "pid");
        m_journal.append_int(pid);
    }
    m_journal += ",\"run_id\":";
    m_journal += m_run_id_json;
    m_journal += ",\"stream\":\"";
    m_journal += stream;
    m_journal += '"';
}

void JournalWriter::end_record() {
    m_journal += "}\n";
    ++m_pending_records;
}

void JournalWriter::handle_fields(EntryKind kind, const Prelude& prelude, std::span<const std::byte> fields) {
    // Each value escaped at most sixfold, a key and punctuation per field (5 bytes of
    // header each at least), and the record's head.
    make_room(m_journal, 12 * fields.size() + 1024);
    std::string_view stream = kind == EntryKind::log ? "log" : kind == EntryKind::status ? "status" : "host";
    begin_record(prelude.ts_micros, prelude.pid, stream);
    // Level and logger come first in every record, whatever order the producer used.
    std::string_view level = "INFO";
    std::string_view logger;
    bool has_logger = false;
    std::string_view message;
    for_each_field(fields, [&](Field tag, std::string_view value) {
        switch (tag) {
        case Field::level: level = value; break;
        case Field::levelno: level = level_of_number(field_int(value)); break;
        case Field::logger: logger = value; has_logger = true; break;
        case Field::message: message = value; break;
        default: break;
        }
    });
    m_journal += ",\"level\":";
    m_journal.append_quoted(level);
    m_journal += ",\"logger\":";
    if (has_logger) {
        m_journal.append_quoted(logger);
    } else {
        m_journal += "null";
    }
    m_journal += ",\"message\":";
    m_journal.append_quoted(message);

    // Extra fields gather into one "extra" object, exception fields into one "exception".
    bool in_extra = false;
    bool in_exception = false;
    const auto close_groups = [&](Field next) {
        if (in_extra && next != Field::extra_key && next != Field::extra_value) {
            m_journal += '}';
            in_extra = false;
        }
        if (in_exception && next != Field::exc_message && next != Field::exc) {
            m_journal += '}';
            in_exception = false;
        }
    };
    for_each_field(fields, [&](Field tag, std::string_view value) {
        close_groups(tag);
        switch (tag) {
        case Field::level:
        case Field::levelno:
        case Field::logger:
        case Field::message:
            break;
        case Field::file: append_key(m_journal, "file"); m_journal.append_quoted(value); break;
        case Field::line: append_key(m_journal, "line"); m_journal.append_int(field_int(value)); break;
        case Field::func: append_key(m_journal, "func"); m_journal.append_quoted(value); break;
        case Field::thread: append_key(m_journal, "thread"); m_journal.append_quoted(value); break;
        case Field::stack: append_key(m_journal, "stack"); m_journal.append_quoted(value); break;
        case Field::status: append_key(m_journal, "status"); m_journal.append_quoted(value); break;
        case Field::component_status:
            append_key(m_journal, "component_status");
            m_journal.append_quoted(value);
            break;
        case Field::exit_code: append_key(m_journal, "exit_code"); m_journal.append_int(field_int(value)); break;
        case Field::signal: append_key(m_journal, "signal"); m_journal.append_quoted(value); break;
        case Field::exc:
            if (in_exception) {
                m_journal += ",\"traceback\":";
            } else {
                append_key(m_journal, "exc");
            }
            m_journal.append_quoted(value);
            break;
        case Field::exc_type:
            append_key(m_journal, "exception");
            m_journal += "{\"type\":";
            m_journal.append_quoted(value);
            in_exception = true;
            break;
        case Field::exc_message:
            if (in_exception) {
                m_journal += ",\"message\":";
                m_journal.append_quoted(value);
            }
            break;
        case Field::extra_key:
            m_journal += in_extra ? "," : ",\"extra\":{";
            in_extra = true;
            m_journal.append_quoted(value);
            m_journal += ':';
            break;
        case Field::extra_value:
            m_journal += value;  // a JSON value, encoded by the producer
            break;
        case Field::detail:
            if (!value.empty()) {
                m_journal += ',';
                m_journal += value;
            }
            break;
        }
    });
    close_groups(Field::level);
    end_record();
}

void JournalWriter::note(std::string_view level, std::string_view message, std::int64_t ts_micros) {
    make_room(m_journal, 6 * (level.size() + message.size()) + 1024);
    begin_record(ts_micros, m_main_pid, "host");
    m_journal += ",\"level\":";
    m_journal.append_quoted(level);
    m_journal += ",\"logger\":\"pyhost\",\"message\":";
    m_journal.append_quoted(message);
    end_record();
}

void JournalWriter::flush_partial_lines() {
    for (PartialLine& partial : m_partial) {
        if (!partial.empty()) {
            emit_line(partial.key, partial.ts_micros, partial.text(), false);
            partial.size = 0;
        }
    }
}

bool JournalWriter::write_all(int fd, BlockReserve& reserve, json::TextBuffer& buffer, std::uint64_t records,
                              bool& failed, const std::string& path) {
    std::size_t done = 0;
    reserve.before_append(buffer.size());
    while (done < buffer.size()) {
        const ssize_t n = ::write(fd, buffer.data() + done, buffer.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n > 0) {
            reserve.appended(static_cast<std::size_t>(n));
        }
        if (n <= 0) {
            if (!failed) {
                PYHOST_LOG(error) << "cannot write " << path << ": " << std::strerror(n < 0 ? errno : EIO)
                                  << "; the run continues, and what cannot be written is counted as lost";
            }
            failed = true;
            m_records_lost += records;
            buffer.clear();
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    if (failed) {
        PYHOST_LOG(warning) << path << " is writable again";
        failed = false;
    }
    buffer.clear();
    return true;
}

void JournalWriter::write_journal() {
    if (m_journal_fd >= 0 && !m_journal.empty()) {
        const std::size_t bytes = m_journal.size();
        if (write_all(m_journal_fd, m_journal_reserve, m_journal, m_pending_records, m_journal_failed, m_journal_path)) {
            m_records_out += m_pending_records;
            m_bytes_out += bytes;
            if (const JournalObserver observer = m_observer.load(std::memory_order_acquire)) {
                observer(m_records_out, m_bytes_out);
            }
        }
    } else {
        m_journal.clear();
    }
    m_pending_records = 0;
}

void JournalWriter::write_text() {
    if (m_text_fd >= 0 && !m_text.empty()) {
        write_all(m_text_fd, m_text_reserve, m_text, 0, m_text_failed, m_text_log_path);
    } else {
        m_text.clear();
    }
}

void JournalWriter::release_reserved_blocks() noexcept {
    m_journal_reserve.release();
    m_text_reserve.release();
}

void JournalWriter::flush(bool force) {
    if (!force && m_journal.size() < k_flush_bytes && m_text.size() < k_flush_bytes) {
        return;
    }
    write_journal();
    write_text();
}

}  // namespace pyhost::capture
