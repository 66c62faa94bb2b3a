#include "capture/capture.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>

#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "capture/entry_ring.hpp"
#include "capture/final_status.hpp"
#include "capture/journal_writer.hpp"
#include "capture/json_text.hpp"
#include "common/file_head.hpp"
#include "common/native_thread.hpp"
#include "diag/log.hpp"
#include "run/exit_path.hpp"

namespace pyhost::capture {
namespace {

// One of the two captured descriptors, 1 or 2.
struct Tap {
    bool enabled = false;
    // Piped: fd N is the write end of a pipe pyhost reads (native output); `original` is the
    // file fd N referred to at start, where everything ends up. Not piped (a terminal, where
    // native output is not captured): original == -1 and writes go to fd N itself.
    int original = -1;
    int pipe_read = -1;
    // 2>&1: both fds referred to one open file, so they share fd 1's pipe (keeping native
    // stdout and stderr in their order). fd 1's tap then reads for both, and native bytes
    // cannot be told apart: they are recorded without an fd.
    bool reads_for_both = false;  // on tap 1
    bool uses_other_pipe = false;  // on tap 2
    dev_t dev = 0;             // what fd N refers to while it is pyhost's
    ino_t ino = 0;
    std::atomic<bool> ours{false};
};

thread_local bool t_in_hook = false;
thread_local bool t_capture_thread = false;
// Inside a logging hook's handlers: 0 no; k_echo_exact: yes, stdout holds no earlier text;
// k_echo_stderr_only: yes, but fd 1 writes may carry earlier prints.
constexpr std::uint8_t k_echo_exact = 1;
constexpr std::uint8_t k_echo_stderr_only = 2;
thread_local std::uint8_t t_log_echo = 0;
std::atomic<bool> g_stdout_handler_seen{false};
thread_local std::string* t_exception_text = nullptr;

class State {
public:
    State(const Config& configuration, RealWrite write_function)
        : config(configuration),
          real_write(write_function),
          ring(configuration.ring_bytes),
          pid(static_cast<std::int32_t>(::getpid())) {}

    Config config;
    RealWrite real_write;
    EntryRing ring;
    std::int32_t pid;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    Tap taps[3];

    std::atomic<bool> consumer_running{false};  // the capture thread exists (start_thread())
    // The consumer's role: reading the ring and writing the journal. The capture thread holds
    // it for each pass between two polls; finish() takes it for good (never unlocks it).
    std::mutex consumer_mutex;
    int wake_fd = -1;
    std::atomic<bool> consumer_sleeping{false};
    std::atomic<bool> stop{false};
    std::atomic<bool> accepting{true};
    std::atomic<int> pending_signal{0};
    std::mutex tee_mutex;  // orders native bytes before the interpreter's own writes
    // Whether native bytes can be waiting in a pipe: set once a child process was started or
    // the capture thread read native bytes. Until then the write() hook skips the pipe.
    std::atomic<bool> native_possible{false};

    // Set when a producer gave up waiting for room: until the ring is half empty again,
    // producers drop at once instead of each waiting in turn (a program printing in a loop
    // against a stalled journal would otherwise crawl).
    std::atomic<bool> dropping{false};
    std::atomic<std::uint64_t> dropped_entries{0};
    std::atomic<std::uint64_t> dropped_bytes{0};
    std::uint64_t reported_dropped = 0;

    std::mutex exception_mutex;
    std::string exception_type, exception_message, exception_traceback;

    std::mutex finish_mutex;
    bool finished = false;

    std::unique_ptr<JournalWriter> writer;  // whoever holds consumer_mutex (and start())

    // Capture's own descriptors, fixed after start(); see is_internal_fd().
    int internal_fds[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    // Closes one of them (the wrapped close() would refuse it).
    void close_internal(int& fd) noexcept {
        for (int& internal : internal_fds) {
            if (internal == fd) {
                internal = -1;
            }
        }
        ::close(fd);
        fd = -1;
    }
    void remember_internal_fds() noexcept {
        int count = 0;
        for (int fd : {wake_fd, writer->journal_fd(), writer->text_fd(), taps[1].original, taps[1].pipe_read,
                       taps[2].original, taps[2].pipe_read}) {
            if (fd > 2) {
                internal_fds[count++] = fd;
            }
        }
    }

    // Producers: wakes the capture thread if it sleeps (the cheap load first: most pushes find
    // it awake).
    void wake() noexcept {
        if (consumer_sleeping.load(std::memory_order_relaxed) && consumer_sleeping.exchange(false)) {
            post_wake();
        }
    }
    void post_wake() noexcept {
        const std::uint64_t one = 1;
        (void)::write(wake_fd, &one, sizeof one);
    }

    bool reserve(std::uint32_t size, EntryRing::Reservation& out) noexcept;
    void push_bytes(EntryKind kind, const Prelude& prelude, const void* body, std::size_t size) noexcept;
    void push_stream(Stream stream, int fd, const void* data, std::size_t size, std::uint8_t flags) noexcept;
    void drain_pipe_locked(Tap& tap) noexcept;
    void drain_all_pipes() noexcept;
    void run_thread() noexcept;
    void consume() noexcept;
    // At the end: fds 1 and 2 back to the original files.
    void restore_descriptors() noexcept;
    // At the end: processes that outlive the run (a daemon started with Popen) may still
    // hold a pipe's write end. Under python3 they would go on writing to the console; here a
    // small forked keeper goes on copying the pipe to it until they close it.
    void hand_over_pipes() noexcept;
    // A `running` status with the process's CPU time and resident set.
    void write_heartbeat() noexcept;
    // Capture thread (or finish() after it stopped), holding the consumer's role: writes an
    // entry without the ring, assembled in `payload`.
    void write_entry_now(EntryKind kind, const FieldList& fields, std::int64_t ts, std::string& payload) noexcept;
    // The heartbeat's buffers, reserved by start(): the capture thread must not allocate.
    FieldList heartbeat_fields;
    std::string heartbeat_payload;
};

State* g_state = nullptr;

}  // namespace

// Set by the vfork() hook, which cannot call a function (see link_hooks.cpp).
extern "C" {
std::atomic<unsigned char> pyhost_child_started{0};
}

namespace {

std::atomic<unsigned char>& g_child_started = pyhost_child_started;

std::int64_t micros_now() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

// ts_micros from the caller: a log record carries its own time, and the clock is not free
// (a vDSO read is ~70 ns in a KVM guest, per record).
Prelude make_prelude(State& state, std::int64_t ts_micros, Stream stream = Stream::native, int fd = 0,
                     std::uint8_t flags = 0) noexcept {
    Prelude prelude{};
    prelude.ts_micros = ts_micros;
    prelude.pid = state.pid;
    prelude.stream = stream;
    prelude.fd = static_cast<std::uint8_t>(fd);
    prelude.flags = flags;
    return prelude;
}

bool State::reserve(std::uint32_t size, EntryRing::Reservation& out) noexcept {
    if (!accepting.load(std::memory_order_acquire)) {
        return false;
    }
    if (ring.try_reserve(size, out)) {
        return true;
    }
    // Full: wake the capture thread and wait a bounded time for room, then give up. The
    // capture thread itself never waits here: it is the one that makes room.
    if (!consumer_running.load(std::memory_order_acquire) || t_capture_thread ||
        dropping.load(std::memory_order_relaxed)) {
        return false;  // no consumer yet, or we are it, or waiting already failed
    }
    const auto deadline = std::chrono::steady_clock::now() + config.full_wait;
    while (std::chrono::steady_clock::now() < deadline) {
        const std::uint64_t one = 1;
        (void)::write(wake_fd, &one, sizeof one);
        const timespec pause{0, 200'000};
        nanosleep(&pause, nullptr);
        if (ring.try_reserve(size, out)) {
            return true;
        }
        if (!accepting.load(std::memory_order_acquire)) {
            break;
        }
    }
    dropping.store(true, std::memory_order_relaxed);
    return false;
}

void State::push_bytes(EntryKind kind, const Prelude& prelude, const void* body, std::size_t size) noexcept {
    EntryRing::Reservation reservation;
    const std::size_t total = sizeof prelude + size;
    if (total > ring.max_payload() || !reserve(static_cast<std::uint32_t>(total), reservation)) {
        dropped_entries.fetch_add(1, std::memory_order_relaxed);
        dropped_bytes.fetch_add(size, std::memory_order_relaxed);
        return;
    }
    std::memcpy(reservation.payload, &prelude, sizeof prelude);
    std::memcpy(reservation.payload + sizeof prelude, body, size);
    ring.commit(reservation, static_cast<std::uint8_t>(kind));
    wake();
}

void State::push_stream(Stream stream, int fd, const void* data, std::size_t size, std::uint8_t flags) noexcept {
    // A handler's console copy of a log record only goes to the text log, which has no times.
    const std::int64_t ts = (flags & k_echo_of_log_record) != 0 ? 0 : micros_now();
    const Prelude prelude = make_prelude(*this, ts, stream, fd, flags);
    const std::size_t chunk_max = ring.max_payload() - sizeof prelude;
    const auto* bytes = static_cast<const char*>(data);
    while (size > 0) {
        const std::size_t chunk = size < chunk_max ? size : chunk_max;
        push_bytes(EntryKind::stream, prelude, bytes, chunk);
        bytes += chunk;
        size -= chunk;
    }
}

// Native bytes waiting in the pipe go to the console (and the journal) now, before whatever
// the caller writes next: the order python3 would show.
void State::drain_pipe_locked(Tap& tap) noexcept {
    if (tap.pipe_read < 0) {
        return;
    }
    char buffer[16384];
    for (;;) {
        const ssize_t n = ::read(tap.pipe_read, buffer, sizeof buffer);
        if (n == 0) {
            // End of file: no writer is left (the run restored fds 1 and 2, and no child
            // holds a copy). Nothing more can come; stop polling it.
            close_internal(tap.pipe_read);
            if (&tap == &taps[1] && taps[2].uses_other_pipe) {
                taps[2].pipe_read = -1;
            }
            return;
        }
        if (n < 0) {
            return;  // EAGAIN: empty
        }
        native_possible.store(true, std::memory_order_relaxed);
        std::size_t done = 0;
        while (done < static_cast<std::size_t>(n)) {
            const ssize_t w = real_write(tap.original, buffer + done, static_cast<std::size_t>(n) - done);
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                // The console is gone (EPIPE...). Close our end so that native writers see
                // EPIPE/SIGPIPE as they would writing to the console directly.
                close_internal(tap.pipe_read);
                if (&tap == &taps[1] && taps[2].uses_other_pipe) {
                    taps[2].pipe_read = -1;
                }
                break;
            }
            done += static_cast<std::size_t>(w);
        }
        const int fd = tap.reads_for_both || tap.uses_other_pipe ? 0 : (&tap == &taps[1] ? 1 : 2);
        push_stream(Stream::native, fd, buffer, static_cast<std::size_t>(n), 0);
        if (tap.pipe_read < 0) {
            return;
        }
    }
}

void State::drain_all_pipes() noexcept {
    std::lock_guard lock(tee_mutex);
    drain_pipe_locked(taps[1]);
    if (!taps[2].uses_other_pipe) {
        drain_pipe_locked(taps[2]);
    }
}

void State::consume() noexcept {
    ring.consume([this](const EntryRing::Entry& entry) { writer->handle(entry); });
    if (dropping.load(std::memory_order_relaxed) && ring.used() < ring.capacity() / 2) {
        dropping.store(false, std::memory_order_relaxed);
    }
    const std::uint64_t dropped = dropped_entries.load(std::memory_order_relaxed);
    if (dropped != reported_dropped) {
        writer->note("WARNING",
                     std::to_string(dropped - reported_dropped) + " capture entries (" +
                         std::to_string(dropped_bytes.load(std::memory_order_relaxed)) +
                         " bytes in all so far) were dropped: the capture ring was full; the console "
                         "output itself was not affected",
                     micros_now());
        reported_dropped = dropped;
    }
}

void State::run_thread() noexcept {
    t_capture_thread = true;
    name_this_thread("pyhost-capture");
    // Signals go to the program's threads, never to this one: a handler that writes to fd 2
    // (faulthandler) must not run where the tee lock may be held.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    // The first look at this process's /proc entries instantiates them, 10 to 50 us here;
    // the run's end reads /proc/self/status (peak_rss_kib()) on the program's thread. A stat
    // pays that now, beside the program, and holds no descriptor the program could close.
    struct stat proc_status {};
    (void)::stat("/proc/self/status", &proc_status);

    bool busy = false;
    auto next_heartbeat = std::chrono::steady_clock::now() + config.heartbeat;
    while (!stop.load(std::memory_order_acquire)) {
        pollfd fds[3];
        nfds_t count = 0;
        fds[count++] = {wake_fd, POLLIN, 0};
        for (int fd : {1, 2}) {
            if (taps[fd].pipe_read >= 0 && !taps[fd].uses_other_pipe) {
                fds[count++] = {taps[fd].pipe_read, POLLIN, 0};
            }
        }
        int timeout = 5;  // batch while busy: producers do not need to wake us
        if (!busy) {
            consumer_sleeping.store(true);
            timeout = ring.empty() ? 1000 : 0;
            if (config.heartbeat.count() > 0 && timeout > 0) {
                const auto until = std::chrono::duration_cast<std::chrono::milliseconds>(
                    next_heartbeat - std::chrono::steady_clock::now());
                timeout = static_cast<int>(std::clamp<long long>(until.count(), 0, timeout));
            }
        }
        // finish() has begun and does the last drain itself: end now, while the program's
        // thread is still busy, so that the process's exit need not wake this thread to end
        // it (on a virtual machine an idle CPU takes up to a millisecond to wake). Asked again
        // after consumer_sleeping is set (both sequentially consistent): either finish() sees
        // this thread asleep and wakes it, or this thread sees the stop here.
        if (stop.load()) {
            return;
        }
        const int ready = poll(fds, count, timeout);
        consumer_sleeping.store(false);
        if (stop.load()) {
            return;
        }
        std::unique_lock consumer(consumer_mutex);
        if (stop.load(std::memory_order_acquire)) {
            return;  // finish() began while this thread waited for the role
        }
        if (ready > 0 && (fds[0].revents & POLLIN)) {
            std::uint64_t value = 0;
            (void)::read(wake_fd, &value, sizeof value);
        }
        if (ready > 0) {
            // try_lock: a writer holding the lock may be waiting for ring space, which only
            // this thread frees; the writer drains the pipe itself anyway.
            std::unique_lock lock(tee_mutex, std::try_to_lock);
            if (lock.owns_lock()) {
                drain_pipe_locked(taps[1]);
                if (!taps[2].uses_other_pipe) {
                    drain_pipe_locked(taps[2]);
                }
            }
        }
        const bool had_work = !ring.empty();
        consume();
        // Written out as soon as the ring is drained: what is in the journal survives SIGKILL,
        // and the sinks, which read the journal, see it at once.
        writer->flush(ring.empty());
        if (config.heartbeat.count() > 0 && std::chrono::steady_clock::now() >= next_heartbeat) {
            write_heartbeat();
            next_heartbeat = std::chrono::steady_clock::now() + config.heartbeat;
        }
        busy = had_work;

        if (const int signal_number = pending_signal.exchange(0); signal_number != 0) {
            // A terminating signal with its default action: the run ends here (see
            // install_termination_handlers). finish() runs inline on this thread.
            if (!run::exit_path::try_finish(run::Outcome::signaled(signal_number))) {
                continue;  // the run is already ending on another thread, which waits for us
            }
            if (const run::Outcome ended = run::exit_path::effective(run::Outcome::signaled(signal_number));
                ended.kind() == run::Outcome::Kind::timed_out) {
                std::_Exit(ended.shell_status());  // past its time limit: reported as timed out
            }
            std::signal(signal_number, SIG_DFL);
            sigset_t only;
            sigemptyset(&only);
            sigaddset(&only, signal_number);
            pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
            ::raise(signal_number);  // the default action ends the whole process
            std::_Exit(128 + signal_number);
        }
    }
}

void State::write_entry_now(EntryKind kind, const FieldList& fields, std::int64_t ts, std::string& payload) noexcept {
    const Prelude prelude = make_prelude(*this, ts);
    payload.assign(reinterpret_cast<const char*>(&prelude), sizeof prelude);
    payload += fields.bytes();
    writer->handle(EntryRing::Entry{static_cast<std::uint8_t>(kind),
                                    {reinterpret_cast<const std::byte*>(payload.data()), payload.size()}});
}

void State::restore_descriptors() noexcept {
    std::lock_guard lock(tee_mutex);
    for (int fd : {1, 2}) {
        Tap& tap = taps[fd];
        if (tap.original >= 0 && tap.ours.load()) {
            dup2(tap.original, fd);
        }
        tap.ours.store(false);
    }
}

void State::hand_over_pipes() noexcept {
    for (int fd : {1, 2}) {
        Tap& tap = taps[fd];
        if (tap.pipe_read < 0 || tap.uses_other_pipe) {
            continue;
        }
        // POLLHUP alone: no writer is left and nothing is waiting.
        pollfd check{tap.pipe_read, POLLIN, 0};
        if (poll(&check, 1, 0) == 1 && (check.revents & POLLHUP) && !(check.revents & POLLIN)) {
            continue;
        }
        const int pipe_read = tap.pipe_read;
        const int original = tap.original;
        const pid_t keeper = fork();
        if (keeper == 0) {
            // Only async-signal-safe calls from here: the parent may have other threads.
            const unsigned low = static_cast<unsigned>(std::min(pipe_read, original));
            const unsigned high = static_cast<unsigned>(std::max(pipe_read, original));
            close_range(0, low - 1, 0);
            close_range(low + 1, high - 1, 0);
            close_range(high + 1, ~0U, 0);
            fcntl(pipe_read, F_SETFL, fcntl(pipe_read, F_GETFL) & ~O_NONBLOCK);
            char buffer[16384];
            for (;;) {
                const ssize_t got = ::read(pipe_read, buffer, sizeof buffer);
                if (got < 0 && errno == EINTR) {
                    continue;
                }
                if (got <= 0) {
                    std::_Exit(0);
                }
                for (ssize_t done = 0; done < got;) {
                    const ssize_t w = real_write(original, buffer + done, static_cast<std::size_t>(got - done));
                    if (w < 0 && errno == EINTR) {
                        continue;
                    }
                    if (w <= 0) {
                        std::_Exit(0);  // the console is gone; closing our end gives the writers EPIPE
                    }
                    done += w;
                }
            }
        }
    }
}

// Moves a descriptor pyhost opened out of the way of fds 0-2: a program started with one of
// them closed must still find it closed (python3 then sets sys.stdin/stdout/stderr to None),
// not find pyhost's journal there.
int above_stdio(int fd) {
    if (fd < 0 || fd > 2) {
        return fd;
    }
    const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    ::close(fd);
    return moved;
}

// A "Vm...:" line of /proc/self/status (`key` with its colon), in KiB, or -1. Read and
// parsed by hand, without stdio or an allocation: every run ends here (stdio's first fopen()
// and sscanf() would fault in code the run has not touched), and so does the capture thread's
// heartbeat (which must not allocate: see JournalWriter).
long proc_status_kib(std::string_view key) noexcept {
    char text[4096];  // the whole file: about 1.5 KB
    const ssize_t size = read_file_head("/proc/self/status", text, sizeof text);
    if (size < 0) {
        return -1;
    }
    const std::string_view status(text, static_cast<std::size_t>(size));
    for (std::size_t at = status.find(key); at != std::string_view::npos; at = status.find(key, at + 1)) {
        if (at != 0 && status[at - 1] != '\n') {
            continue;  // the key inside another line
        }
        std::string_view rest = status.substr(at + key.size());
        rest.remove_prefix(std::min(rest.find_first_not_of(" \t"), rest.size()));
        long value = 0;
        if (const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
            error == std::errc() && end != rest.data()) {
            return value;
        }
        return -1;
    }
    return -1;
}

// The process's own peak resident set, in KiB: VmHWM, the high-water mark of this program's
// memory. Not getrusage()'s ru_maxrss, which also counts the resident set of the process that
// forked us, as it was when we were exec'd (a big test runner or supervisor inflates it).
long peak_rss_kib() noexcept {
    long kib = proc_status_kib("VmHWM:");
    rusage usage{};
    if (kib < 0 && getrusage(RUSAGE_SELF, &usage) == 0) {
        kib = usage.ru_maxrss;  // no /proc: the closest there is
    }
    return kib < 0 ? 0 : kib;
}

void State::write_heartbeat() noexcept {
    // Built in buffers start() reserved, and numbers formatted by hand: no allocation here.
    char detail[128];
    char* out = detail;
    const auto put = [&out](std::string_view text) {
        std::memcpy(out, text.data(), text.size());
        out += text.size();
    };
    put("\"heartbeat\":true");
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) == 0) {
        const std::int64_t cpu_ms = (static_cast<std::int64_t>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1'000'000 +
                                     usage.ru_utime.tv_usec + usage.ru_stime.tv_usec + 500) / 1000;
        put(",\"cpu_s\":");
        out = std::to_chars(out, out + 24, cpu_ms / 1000).ptr;
        *out++ = '.';
        const auto millis = static_cast<int>(cpu_ms % 1000);
        *out++ = static_cast<char>('0' + millis / 100);
        *out++ = static_cast<char>('0' + millis / 10 % 10);
        *out++ = static_cast<char>('0' + millis % 10);
    }
    put(",\"rss_kib\":");
    out = std::to_chars(out, out + 24, std::max(proc_status_kib("VmRSS:"), 0L)).ptr;
    heartbeat_fields.clear();
    heartbeat_fields.add(Field::message, "running");
    heartbeat_fields.add(Field::status, "running");
    heartbeat_fields.add(Field::detail, std::string_view(detail, static_cast<std::size_t>(out - detail)));
    write_entry_now(EntryKind::status, heartbeat_fields, micros_now(), heartbeat_payload);
}

bool same_open_file(int a, int b) {
    const long result = ::syscall(SYS_kcmp, ::getpid(), ::getpid(), KCMP_FILE, a, b);
    if (result >= 0) {
        return result == 0;
    }
    struct stat sa {}, sb {};
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino &&
           fcntl(a, F_GETFL) == fcntl(b, F_GETFL);
}

void remember_identity(Tap& tap, int fd) {
    struct stat st {};
    if (fstat(fd, &st) == 0) {
        tap.dev = st.st_dev;
        tap.ino = st.st_ino;
    }
}

// Replaces fd with the write end of a new pipe; keeps the original as tap.original.
bool pipe_descriptor(Tap& tap, int fd) {
    int ends[2];
    const int original = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    if (original < 0 || pipe2(ends, O_CLOEXEC) != 0) {
        if (original >= 0) {
            ::close(original);
        }
        return false;
    }
    ends[0] = above_stdio(ends[0]);
    ends[1] = above_stdio(ends[1]);
    (void)fcntl(ends[0], F_SETPIPE_SZ, 1 << 20);  // fewer stalls for chatty children
    fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK);
    if (dup2(ends[1], fd) < 0) {
        ::close(ends[0]);
        ::close(ends[1]);
        ::close(original);
        return false;
    }
    ::close(ends[1]);
    tap.original = original;
    tap.pipe_read = ends[0];
    return true;
}

void setup_taps(State& state) {
    for (int fd : {1, 2}) {
        Tap& tap = state.taps[fd];
        struct stat st {};
        if (fstat(fd, &st) != 0) {
            continue;  // no such stream: python3 sets sys.stdout to None; nothing to capture
        }
        tap.enabled = true;
        if (!isatty(fd)) {
            if (fd == 2 && state.taps[1].pipe_read >= 0 && same_open_file(state.taps[1].original, 2)) {
                // 2>&1: one pipe for both keeps native stdout and stderr in their order.
                tap.original = fcntl(2, F_DUPFD_CLOEXEC, 10);
                if (tap.original >= 0 && dup2(1, 2) >= 0) {
                    tap.pipe_read = state.taps[1].pipe_read;
                    tap.uses_other_pipe = true;
                    state.taps[1].reads_for_both = true;
                }
            } else if (!pipe_descriptor(tap, fd)) {
                PYHOST_LOG(warning) << "cannot pipe fd " << fd << " (" << std::strerror(errno)
                                    << "); native output to it is not captured";
            }
        }
        remember_identity(tap, fd);
        tap.ours.store(true);
    }
}

std::string status_detail_running(std::span<char* const> argv) {
    std::string detail = "\"pid\":";
    json::append_int(detail, ::getpid());
    detail += ",\"argv\":[";
    for (std::size_t i = 0; i < argv.size(); ++i) {
        if (i != 0) {
            detail += ',';
        }
        json::append_string(detail, argv[i]);
    }
    detail += ']';
    return detail;
}

void push_fields(State& state, EntryKind kind, const FieldList& fields, std::int64_t ts) noexcept {
    const Prelude prelude = make_prelude(state, ts);
    const auto bytes = fields.bytes();
    state.push_bytes(kind, prelude, bytes.data(), bytes.size());
}

void termination_signal(int signal_number) {
    State* state = g_state;
    if (state == nullptr || ::getpid() != state->pid) {
        // A forked (or vforked) child inherits this handler but not the capture thread.
        std::signal(signal_number, SIG_DFL);
        ::kill(::getpid(), signal_number);
        return;
    }
    const int saved_errno = errno;
    state->pending_signal.store(signal_number);
    const std::uint64_t one = 1;
    (void)::write(state->wake_fd, &one, sizeof one);
    errno = saved_errno;
}

void after_fork_in_child() {
    State* state = g_state;
    if (state == nullptr) {
        return;
    }
    // The capture thread does not exist here. The child's own output still reaches the
    // parent's pipes (fds 1 and 2 are inherited), where the parent captures it as native
    // output; structured capture stays the parent's.
    state->accepting.store(false);
    for (int fd : {1, 2}) {
        state->taps[fd].ours.store(false);
    }
}

}  // namespace

bool start(const Config& config, std::span<char* const> program_argv, RealWrite real_write) {
    if (g_state != nullptr || !config.enabled()) {
        return false;
    }
    auto* state = new State(config, real_write);  // lives until the process ends
    state->wake_fd = above_stdio(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (state->wake_fd < 0) {
        PYHOST_LOG(error) << "capture: eventfd: " << std::strerror(errno) << "; capture is off";
        delete state;
        return false;
    }
    state->writer = std::make_unique<JournalWriter>(config.journal_path, config.text_log_path, config.run_id, state->pid);
    state->heartbeat_fields.reserve(512);
    state->heartbeat_payload.reserve(512 + sizeof(Prelude));
    setup_taps(*state);
    state->remember_internal_fds();
    g_state = state;
    pthread_atfork(nullptr, nullptr, after_fork_in_child);

    FieldList fields;
    fields.add(Field::message, "running");
    fields.add(Field::status, "running");
    fields.add(Field::detail, status_detail_running(program_argv));
    push_fields(*state, EntryKind::status, fields, micros_now());

    run::exit_path::add_finisher([](const run::Outcome& outcome) { finish(outcome); });
    return true;
}

void start_thread() {
    State* state = g_state;
    if (state == nullptr || state->consumer_running.load() || state->finished) {
        return;
    }
    // Set first: the thread's first pass may already see it.
    state->consumer_running.store(true, std::memory_order_release);
    const int error = start_detached_thread<State, &State::run_thread>(state);
    if (error != 0) {
        // No consumer: what the program writes waits in the ring, which finish() drains at the
        // end; what does not fit is counted as dropped, and the count is recorded.
        state->consumer_running.store(false, std::memory_order_release);
        PYHOST_LOG(error) << "capture: cannot start the capture thread: " << std::strerror(error)
                          << "; records are written at exit, and those the " << state->ring.capacity()
                          << "-byte queue cannot hold are counted as dropped";
        push_note("ERROR", "capture thread not started: records are written at exit");
    }
}

bool active() noexcept { return g_state != nullptr; }

void observe_journal(JournalObserver observer) noexcept {
    if (State* state = g_state; state != nullptr && ::getpid() == state->pid) {
        state->writer->set_observer(observer);
    }
}

std::int64_t now_micros() noexcept { return micros_now(); }

namespace {

ssize_t hooked_write(int fd, const void* data, std::size_t size, bool native) noexcept;

}  // namespace

ssize_t write_hook(int fd, const void* data, std::size_t size) noexcept {
    return hooked_write(fd, data, size, false);
}

ssize_t c_stderr_write(const void* data, std::size_t size) noexcept {
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = hooked_write(2, static_cast<const char*>(data) + done, size - done, true);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return done > 0 ? static_cast<ssize_t>(done) : n;
        }
        done += static_cast<std::size_t>(n);
    }
    return static_cast<ssize_t>(done);
}

namespace {

ssize_t hooked_write(int fd, const void* data, std::size_t size, bool native) noexcept {
    State* state = g_state;
    Tap& tap = state->taps[fd == 1 || fd == 2 ? fd : 0];
    if ((fd != 1 && fd != 2) || t_in_hook || !tap.ours.load(std::memory_order_relaxed)) {
        return state->real_write(fd, data, size);
    }
    const int target = tap.original >= 0 ? tap.original : fd;
    if (diag::writing_now()) {
        return state->real_write(target, data, size);  // pyhost's own diagnostics: console only
    }
    t_in_hook = true;
    ssize_t written;
    int saved_errno;
    const Stream stream = native ? Stream::native : fd == 1 ? Stream::stdout_ : Stream::stderr_;
    std::uint8_t flags = 0;
    if (t_log_echo == k_echo_exact || (t_log_echo == k_echo_stderr_only && fd == 2)) {
        flags = k_echo_of_log_record;
    } else if (t_log_echo == k_echo_stderr_only && fd == 1) {
        g_stdout_handler_seen.store(true, std::memory_order_relaxed);  // flush first from now on
    }
    // Native bytes may be waiting in the pipe, to go out before these: check (a system call)
    // once a child process may exist, native bytes were seen, or stdout and stderr share the
    // pipe (then the other stream's native bytes count too).
    const bool check_pipe = tap.pipe_read >= 0 && (state->native_possible.load(std::memory_order_relaxed) ||
                                                   g_child_started.load(std::memory_order_relaxed) ||
                                                   tap.reads_for_both || tap.uses_other_pipe);
    if (check_pipe) {
        std::lock_guard lock(state->tee_mutex);
        state->drain_pipe_locked(tap);
        written = state->real_write(target, data, size);
        saved_errno = errno;
        if (written > 0) {
            state->push_stream(stream, fd, data, static_cast<std::size_t>(written), flags);
        }
    } else {
        written = state->real_write(target, data, size);
        saved_errno = errno;
        if (written > 0) {
            state->push_stream(stream, fd, data, static_cast<std::size_t>(written), flags);
        }
    }
    if (t_exception_text != nullptr && fd == 2 && written > 0) {
        t_exception_text->append(static_cast<const char*>(data), static_cast<std::size_t>(written));
    }
    t_in_hook = false;
    errno = saved_errno;
    return written;
}

}  // namespace

bool is_internal_fd(int fd) noexcept {
    State* state = g_state;
    if (state == nullptr || fd < 3) {
        return false;
    }
    for (int internal : state->internal_fds) {
        if (internal == fd) {
            // Forked and vforked children may close anything. Asked only now: every close()
            // of the program's own files comes here, and getpid() is a system call.
            return ::getpid() == state->pid;
        }
    }
    return false;
}

int first_internal_fd(unsigned first, unsigned last) noexcept {
    State* state = g_state;
    if (state == nullptr || ::getpid() != state->pid) {
        return -1;
    }
    int lowest = -1;
    for (int internal : state->internal_fds) {
        if (internal >= 0 && static_cast<unsigned>(internal) >= first && static_cast<unsigned>(internal) <= last &&
            (lowest < 0 || internal < lowest)) {
            lowest = internal;
        }
    }
    return lowest;
}

void note_child_process() noexcept {
    if (State* state = g_state) {
        state->native_possible.store(true, std::memory_order_relaxed);
    }
}

void after_fd_replaced(int fd, int source_fd) noexcept {
    State* state = g_state;
    if (state == nullptr || (fd != 1 && fd != 2) || ::getpid() != state->pid) {
        return;  // also a vfork child setting up a subprocess's stdio: shared memory, hands off
    }
    Tap& tap = state->taps[fd];
    struct stat st {};
    const bool ours = tap.enabled && fstat(source_fd, &st) == 0 && st.st_dev == tap.dev && st.st_ino == tap.ino;
    tap.ours.store(ours);
}

void after_fd_closed(int fd) noexcept {
    State* state = g_state;
    if (state != nullptr && (fd == 1 || fd == 2) && ::getpid() == state->pid) {
        state->taps[fd].ours.store(false);
    }
}

void before_process_exit(int status) noexcept {
    State* state = g_state;
    if (state != nullptr && ::getpid() == state->pid) {
        run::exit_path::finish(run::Outcome::exited(status));
    }
}

void install_termination_handlers() noexcept {
    if (g_state == nullptr) {
        return;
    }
    for (int signal_number : {SIGTERM, SIGHUP}) {
        struct sigaction current {};
        if (sigaction(signal_number, nullptr, &current) != 0 || current.sa_handler != SIG_DFL) {
            continue;  // inherited SIG_IGN stays ignored, as under python3
        }
        struct sigaction action {};
        action.sa_handler = termination_signal;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESTART;
        sigaction(signal_number, &action, nullptr);
    }
}

SignalHandler termination_handler() noexcept { return g_state != nullptr ? termination_signal : nullptr; }

LogHandlersScope::LogHandlersScope(bool stdout_exact) noexcept : m_previous(t_log_echo) {
    t_log_echo = stdout_exact ? k_echo_exact : k_echo_stderr_only;
}
LogHandlersScope::~LogHandlersScope() { t_log_echo = m_previous; }

bool stdout_handler_seen() noexcept { return g_stdout_handler_seen.load(std::memory_order_relaxed); }

ExceptionDisplayScope::ExceptionDisplayScope() noexcept { t_exception_text = new std::string(); }
ExceptionDisplayScope::~ExceptionDisplayScope() {
    delete t_exception_text;
    t_exception_text = nullptr;
}
std::string ExceptionDisplayScope::take_text() { return t_exception_text != nullptr ? std::move(*t_exception_text) : std::string(); }

void note_displayed_exception(std::string type, std::string message, std::string traceback) {
    State* state = g_state;
    if (state == nullptr) {
        return;
    }
    std::lock_guard lock(state->exception_mutex);
    state->exception_type = std::move(type);
    state->exception_message = std::move(message);
    state->exception_traceback = std::move(traceback);
}

bool push_log(const FieldList& fields, std::int64_t ts_micros) noexcept {
    State* state = g_state;
    if (state == nullptr || !state->accepting.load(std::memory_order_relaxed)) {
        return false;
    }
    const std::uint64_t before = state->dropped_entries.load(std::memory_order_relaxed);
    push_fields(*state, EntryKind::log, fields, ts_micros);
    return state->dropped_entries.load(std::memory_order_relaxed) == before;
}

bool push_status(const FieldList& fields) noexcept {
    State* state = g_state;
    if (state == nullptr || !state->accepting.load(std::memory_order_relaxed)) {
        return false;
    }
    push_fields(*state, EntryKind::status, fields, micros_now());
    return true;
}

bool push_note(std::string_view level, std::string_view message) noexcept {
    State* state = g_state;
    if (state == nullptr || !state->accepting.load(std::memory_order_relaxed) || ::getpid() != state->pid) {
        return false;
    }
    FieldList fields;
    fields.add(Field::level, level);
    fields.add(Field::logger, "pyhost");
    fields.add(Field::message, message);
    push_fields(*state, EntryKind::host, fields, micros_now());
    return true;
}

void finish(const run::Outcome& outcome) noexcept {
    State* state = g_state;
    if (state == nullptr || ::getpid() != state->pid) {
        return;
    }
    std::lock_guard finish_lock(state->finish_mutex);
    if (state->finished) {
        return;
    }
    state->finished = true;
    // The capture thread ends at its next wake-up, which is now: it ends on its own CPU while
    // this one finishes, instead of being woken to die when the process exits. From here on
    // this function does the consumer's work itself.
    state->stop.store(true);
    if (state->consumer_sleeping.exchange(false)) {  // read-modify-write: ordered after the store
        state->post_wake();
    }
    // C stdio buffers (CPython prints --version and usage with printf; C extensions too) are
    // flushed by exit() only after this: push them into the pipes now.
    std::fflush(nullptr);
    // Native bytes still in the pipes. Children may still hold the write ends: no waiting for
    // end-of-file, only what is there now.
    state->drain_all_pipes();
    // From here on fds 1 and 2 are the console again, for whatever runs after the run.
    state->restore_descriptors();

    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - state->started).count();
    const long max_rss_kib = peak_rss_kib();
    FieldList fields;
    {
        std::lock_guard lock(state->exception_mutex);
        const UncaughtException exception{state->exception_type, state->exception_message, state->exception_traceback};
        fields = final_status_fields(outcome, elapsed, max_rss_kib, &exception);
    }
    const std::int64_t ended_at = micros_now();

    // Everything queued so far goes out first, then the last partial lines, and the final
    // status is the journal's last record.
    state->accepting.store(false, std::memory_order_release);
    if (!t_capture_thread) {
        // Take the consumer's role instead of joining the capture thread: at most its current
        // pass is waited for, not its wake-up and end. The role is never given back: the
        // thread, should it still come for it, waits for the mutex until the process ends.
        // (On the capture thread itself, which ends a run on a signal, the role is held
        // already.)
        state->consumer_mutex.lock();
    }
    state->consume();
    state->writer->flush_partial_lines();
    std::string payload;
    state->write_entry_now(EntryKind::status, fields, ended_at, payload);
    state->writer->flush(true);
    state->writer->release_reserved_blocks();
    state->hand_over_pipes();
}

}  // namespace pyhost::capture
