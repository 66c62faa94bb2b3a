// Process-wide capture: the sinks' side (producers) and the capture thread (consumer).
//
//   write() hook ──┐  (interpreter writes to fd 1/2: stdout / stderr records, console tee)
//   logging hook ──┼─▶ EntryRing ─▶ capture thread ─▶ JournalWriter (journal + console log)
//   status, notes ─┤                     ▲
//   fd 1/2 pipes ──┘ (native output) ────┘ also forwarded to the original stdout/stderr
//
// Producers copy bytes and return: they never block past Config::full_wait, never raise into
// Python, never allocate in the write() hook. The capture thread never takes the GIL.
//
// Native output (C code, child processes) is captured by replacing fds 1 and 2 with pipes
// when they are not terminals; the interpreter's own writes to fds 1 and 2 go straight to
// the original files (after any native bytes written before them), so the console sees what
// python3 would show, in the same order.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "capture/config.hpp"
#include "capture/records.hpp"
#include "run/outcome.hpp"

namespace pyhost::capture {

using RealWrite = ssize_t (*)(int fd, const void* data, std::size_t size);

// Starts capture for this process, before Python starts: opens the journal, replaces fds 1
// and 2 with pipes where they are not terminals, records the `running` status. `real_write`
// is write() itself (not the hook). Registers the exit path finisher. Returns false when
// capture could not start (the reason is reported).
bool start(const Config& config, std::span<char* const> program_argv, RealWrite real_write);

// Starts the capture thread. Called once the interpreter is up: Python's start-up maps and
// unmaps memory a lot, and with a second thread in the process every unmapping costs a TLB
// shootdown on the other CPU. What is written before (site, sitecustomize) waits in the ring
// and the pipes.
void start_thread();

// Whether capture is running in this process.
bool active() noexcept;

// --- hooks (host/interp/link_hooks.cpp) -------------------------------------------------

// Every write() the interpreter makes. Thread-safe, async-signal-safe (faulthandler writes
// from a signal handler), and allocation-free.
ssize_t write_hook(int fd, const void* data, std::size_t size) noexcept;

// What the interpreter's C code prints on the C stdio `stderr` stream (the REPL's prompt,
// the -v banner, fatal error text): C's stderr is unbuffered, so it is written at once,
// through the same ordered path, and recorded as native output of fd 2.
ssize_t c_stderr_write(const void* data, std::size_t size) noexcept;

// dup2()/dup3() onto, or close() of, fd 1 or 2 by the program: the fd no longer (or again)
// refers to the stream pyhost captures.
void after_fd_replaced(int fd, int source_fd) noexcept;
void after_fd_closed(int fd) noexcept;

// Whether `fd` is one of capture's own descriptors (journal, pipes, saved stdout/stderr) in
// the capturing process. A program closing every descriptor above 2 (daemons do) must not
// take capture's away, nor get them back as numbers for its own files.
bool is_internal_fd(int fd) noexcept;
// The lowest internal descriptor in [first, last], or -1.
int first_internal_fd(unsigned first, unsigned last) noexcept;

// A child process is about to be started (fork, vfork, posix_spawn, system): from now on
// native output can arrive at any time, and the interpreter's writes to fds 1 and 2 check
// the pipe for it first (before that, they save the system call).
void note_child_process() noexcept;

// _exit() (os._exit, a forked child's end): drain what can be drained, then exit.
void before_process_exit(int status) noexcept;

// SIGTERM (and SIGHUP) with their default action: drain, record `stopped`, then die by the
// signal. Installed after Python's signal module has read the dispositions, so Python still
// reports SIG_DFL; a program's own handler replaces it. Returns the handler to install.
void install_termination_handlers() noexcept;
using SignalHandler = void (*)(int);
SignalHandler termination_handler() noexcept;

// --- producers for the bindings ---------------------------------------------------------

// While alive, stream bytes written by this thread are a logging handler's console copy of a
// record already captured: they go to the console log, not again to the journal.
//
// One exception keeps nothing from being lost: when sys.stdout buffers whole blocks (not a
// terminal) and may hold earlier prints, a handler writing to stdout flushes them out in the
// same write() as its own line. Such a write is captured as stdout text (the record's line
// may then appear twice, never zero times), and from then on the logging hook flushes
// block-buffered stdout before the handlers run (stdout_handler_seen()), which keeps the
// console's bytes and order since that handler flushes stdout at that point anyway.
class LogHandlersScope {
public:
    // stdout_exact: stdout holds no earlier text (line-buffered, or just flushed).
    explicit LogHandlersScope(bool stdout_exact) noexcept;
    ~LogHandlersScope();
    LogHandlersScope(const LogHandlersScope&) = delete;
    LogHandlersScope& operator=(const LogHandlersScope&) = delete;

private:
    std::uint8_t m_previous;
};

// Whether a logging handler was seen writing to stdout (see LogHandlersScope).
bool stdout_handler_seen() noexcept;

// While alive, bytes this thread writes to fd 2 are also collected as the text of an
// exception being displayed (sys.excepthook); note_displayed_exception() takes them.
class ExceptionDisplayScope {
public:
    ExceptionDisplayScope() noexcept;
    ~ExceptionDisplayScope();
    ExceptionDisplayScope(const ExceptionDisplayScope&) = delete;
    ExceptionDisplayScope& operator=(const ExceptionDisplayScope&) = delete;
    std::string take_text();
};

// The last exception shown by the default sys.excepthook: the final status of a failed run
// carries it.
void note_displayed_exception(std::string type, std::string message, std::string traceback);

// Queues a log record (fields built by the logging hook). Returns false if it was dropped.
bool push_log(const FieldList& fields, std::int64_t ts_micros) noexcept;

// Queues a status record from the program's side (a component's own health status).
bool push_status(const FieldList& fields) noexcept;

// Queues a `host` record: pyhost's own note about the run (a sink rejecting a batch), so that
// the journal, and every other sink, know it too. Dropped once capture has finished.
bool push_note(std::string_view level, std::string_view message) noexcept;

// Microseconds since the epoch, UTC.
std::int64_t now_micros() noexcept;

// --- for the reporter -------------------------------------------------------------------

// `observer` is told, on the thread writing the journal, each time records reach it (see
// JournalObserver): shippers wait for a batch to fill rather than poll for it. In the process
// that started capture; nullptr stops it.
void observe_journal(JournalObserver observer) noexcept;

// --- end of the run ---------------------------------------------------------------------

// Drains everything, records the final status and stops the capture thread. Once.
void finish(const run::Outcome& outcome) noexcept;

}  // namespace pyhost::capture
