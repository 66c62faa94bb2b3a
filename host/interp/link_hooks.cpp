// See link_hooks.hpp. Each wrapper states which CPython behaviour it keeps and what it adds.

#include "interp/link_hooks.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

#include <pty.h>
#include <spawn.h>
#include <sys/uio.h>

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "capture/capture.hpp"
#include "run/exit_path.hpp"
#include "run/timeout.hpp"

extern "C" {

// Set by the eval loop when KeyboardInterrupt escaped the program (pycore_pylifecycle.h).
extern int _Py_UnhandledKeyboardInterrupt;

int __real_Py_FinalizeEx(void);
ssize_t __real_write(int fd, const void* data, size_t size);
ssize_t __real_writev(int fd, const struct iovec* iov, int count);
int __real_dup2(int old_fd, int new_fd);
int __real_dup3(int old_fd, int new_fd, int flags);
int __real_close(int fd);
int __real_close_range(unsigned first, unsigned last, int flags);
[[noreturn]] void __real__exit(int status);
void __real_PyErr_Display(PyObject* type, PyObject* value, PyObject* traceback);
PyOS_sighandler_t __real_PyOS_setsig(int signal_number, PyOS_sighandler_t handler);
pid_t __real_fork(void);
pid_t __real_vfork(void);
int __real_posix_spawn(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
                       char* const[], char* const[]);
int __real_posix_spawnp(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
                        char* const[], char* const[]);
int __real_system(const char* command);
pid_t __real_forkpty(int*, char*, const struct termios*, const struct winsize*);

// --- ending the process -------------------------------------------------------------------

// Py_RunMain() finalizes, then, after an unhandled KeyboardInterrupt, resets SIGINT to its
// default action and kills the process with it (bpo-1054041) instead of returning: right
// after finalization is the last moment pyhost runs on that path.
// Finalization also closes the door on the timeout watchdog's stack dump.
int __wrap_Py_FinalizeEx(void) {
    pyhost::run::timeout::python_finalizing();
    const int result = __real_Py_FinalizeEx();
    if (_Py_UnhandledKeyboardInterrupt) {
        const pyhost::run::Outcome interrupted = pyhost::run::Outcome::signaled(SIGINT);
        if (pyhost::run::exit_path::effective(interrupted).kind() == pyhost::run::Outcome::Kind::timed_out) {
            // The watchdog's SIGTERM handler raised KeyboardInterrupt: status 124, not SIGINT.
            pyhost::run::exit_path::end_process(interrupted);
        }
        pyhost::run::exit_path::finish(interrupted);
    }
    return result;
}

// gh-152132: on 3.11, SystemExit escaping -c, a script or stdin is handled by
// handle_system_exit(), which calls Py_Exit(): finalize, then exit() with no way back to the
// host. Same steps here, with the exit path between them.
[[noreturn]] void __wrap_Py_Exit(int status) {
    if (Py_FinalizeEx() < 0) {
        status = 120;  // as Py_Exit(): "unlikely to be confused with a non-error exit status"
    }
    pyhost::run::exit_path::end_process(pyhost::run::Outcome::exited(status));
}

// os._exit(), faulthandler's exit=True, a forked child's end: no finalization, as in
// CPython, but capture drains first (in the capturing process only).
[[noreturn]] void __wrap__exit(int status) {
    if (pyhost::capture::active()) {
        pyhost::capture::before_process_exit(status);
    }
    __real__exit(status);
}

// --- the console ---------------------------------------------------------------------------

// Every write the interpreter makes (sys.stdout and sys.stderr through FileIO, os.write,
// faulthandler): the bytes reach the console exactly as under python3, and what goes to
// fds 1 and 2 is captured.
ssize_t __wrap_write(int fd, const void* data, size_t size) {
    if (!pyhost::capture::active()) {
        return __real_write(fd, data, size);
    }
    return pyhost::capture::write_hook(fd, data, size);
}

// os.writev(): to fds 1 and 2, one captured write per buffer.
ssize_t __wrap_writev(int fd, const struct iovec* iov, int count) {
    if (!pyhost::capture::active() || (fd != 1 && fd != 2)) {
        return __real_writev(fd, iov, count);
    }
    ssize_t total = 0;
    for (int i = 0; i < count; ++i) {
        const ssize_t n = pyhost::capture::write_hook(fd, iov[i].iov_base, iov[i].iov_len);
        if (n < 0) {
            return total > 0 ? total : n;
        }
        total += n;
        if (static_cast<size_t>(n) < iov[i].iov_len) {
            break;
        }
    }
    return total;
}

// os.dup2(), os.close() and subprocess's child set-up: a program that points fd 1 or 2
// elsewhere takes it out of capture (and back in when it restores it).
int __wrap_dup2(int old_fd, int new_fd) {
    const int result = __real_dup2(old_fd, new_fd);
    if (result >= 0 && pyhost::capture::active()) {
        pyhost::capture::after_fd_replaced(new_fd, old_fd);
    }
    return result;
}

int __wrap_dup3(int old_fd, int new_fd, int flags) {
    const int result = __real_dup3(old_fd, new_fd, flags);
    if (result >= 0 && pyhost::capture::active()) {
        pyhost::capture::after_fd_replaced(new_fd, old_fd);
    }
    return result;
}

int __wrap_close(int fd) {
    if (pyhost::capture::active() && pyhost::capture::is_internal_fd(fd)) {
        return 0;  // capture's own descriptor: it stays (see capture::is_internal_fd)
    }
    const int result = __real_close(fd);
    if (result == 0 && pyhost::capture::active()) {
        pyhost::capture::after_fd_closed(fd);
    }
    return result;
}

// C stdio on `stderr` from the interpreter's C code (fprintf is __fprintf_chk with
// _FORTIFY_SOURCE): see capture::c_stderr_write. Other streams are left to C stdio.
namespace {

bool captured_stderr(FILE* stream) { return stream == stderr && pyhost::capture::active(); }

int formatted_to_stderr(const char* format, va_list args) {
    char small[1024];
    va_list copy;
    va_copy(copy, args);
    const int length = std::vsnprintf(small, sizeof small, format, copy);
    va_end(copy);
    if (length < 0) {
        return length;
    }
    if (static_cast<size_t>(length) < sizeof small) {
        return pyhost::capture::c_stderr_write(small, static_cast<size_t>(length)) < 0 ? -1 : length;
    }
    std::string large(static_cast<size_t>(length) + 1, '\0');
    std::vsnprintf(large.data(), large.size(), format, args);
    return pyhost::capture::c_stderr_write(large.data(), static_cast<size_t>(length)) < 0 ? -1 : length;
}

}  // namespace

int __real___vfprintf_chk(FILE* stream, int flag, const char* format, va_list args);
size_t __real_fwrite(const void* data, size_t size, size_t count, FILE* stream);
int __real_fputs(const char* text, FILE* stream);
int __real_fputc(int c, FILE* stream);
void __real_perror(const char* text);

int __wrap___fprintf_chk(FILE* stream, int flag, const char* format, ...) {
    va_list args;
    va_start(args, format);
    const int result = captured_stderr(stream) ? formatted_to_stderr(format, args)
                                               : __real___vfprintf_chk(stream, flag, format, args);
    va_end(args);
    return result;
}

int __wrap___vfprintf_chk(FILE* stream, int flag, const char* format, va_list args) {
    return captured_stderr(stream) ? formatted_to_stderr(format, args) : __real___vfprintf_chk(stream, flag, format, args);
}

size_t __wrap_fwrite(const void* data, size_t size, size_t count, FILE* stream) {
    if (!captured_stderr(stream) || size == 0) {
        return __real_fwrite(data, size, count, stream);
    }
    return pyhost::capture::c_stderr_write(data, size * count) < 0 ? 0 : count;
}

int __wrap_fputs(const char* text, FILE* stream) {
    if (!captured_stderr(stream)) {
        return __real_fputs(text, stream);
    }
    return pyhost::capture::c_stderr_write(text, std::strlen(text)) < 0 ? EOF : 1;
}

int __wrap_fputc(int c, FILE* stream) {
    if (!captured_stderr(stream)) {
        return __real_fputc(c, stream);
    }
    const char byte = static_cast<char>(c);
    return pyhost::capture::c_stderr_write(&byte, 1) < 0 ? EOF : static_cast<unsigned char>(byte);
}

void __wrap_perror(const char* text) {
    if (!pyhost::capture::active()) {
        __real_perror(text);
        return;
    }
    const std::string message = (text != nullptr && *text != '\0' ? std::string(text) + ": " : std::string()) +
                                std::strerror(errno) + "\n";
    pyhost::capture::c_stderr_write(message.data(), message.size());
}

// --- child processes ------------------------------------------------------------------------

// subprocess's vfork(): the child shares the caller's stack until it execs, so a wrapper may
// not add a frame that the child would return through. This one only sets a flag (read by
// the capture write() hook) and jumps: vfork() returns straight to its real caller.
extern std::atomic<unsigned char> pyhost_child_started;
__asm__(
    ".text\n"
    ".globl __wrap_vfork\n"
    ".type __wrap_vfork, @function\n"
    "__wrap_vfork:\n"
    "    movb $1, pyhost_child_started(%rip)\n"
    "    jmp __real_vfork\n"
    ".size __wrap_vfork, .-__wrap_vfork\n");

// os.fork, subprocess (_posixsubprocess), os.posix_spawn, os.system, os.forkpty: a child may
// write to the inherited fds 1 and 2 from now on (see capture::note_child_process).
pid_t __wrap_fork(void) {
    pyhost::capture::note_child_process();
    return __real_fork();
}

int __wrap_posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                       const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
    pyhost::capture::note_child_process();
    return __real_posix_spawn(pid, path, actions, attributes, argv, envp);
}

int __wrap_posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                        const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
    pyhost::capture::note_child_process();
    return __real_posix_spawnp(pid, file, actions, attributes, argv, envp);
}

int __wrap_system(const char* command) {
    pyhost::capture::note_child_process();
    return __real_system(command);
}

pid_t __wrap_forkpty(int* amaster, char* name, const struct termios* termp, const struct winsize* winp) {
    pyhost::capture::note_child_process();
    return __real_forkpty(amaster, name, termp, winp);
}

// os.closerange() and friends (close_range(2)): everything but capture's own descriptors.
int __wrap_close_range(unsigned first, unsigned last, int flags) {
    if (!pyhost::capture::active()) {
        return __real_close_range(first, last, flags);
    }
    while (first <= last) {
        const int internal = pyhost::capture::first_internal_fd(first, last);
        if (internal < 0) {
            return __real_close_range(first, last, flags);
        }
        if (static_cast<unsigned>(internal) > first) {
            if (const int result = __real_close_range(first, static_cast<unsigned>(internal) - 1, flags); result != 0) {
                return result;
            }
        }
        if (static_cast<unsigned>(internal) == ~0U) {
            break;
        }
        first = static_cast<unsigned>(internal) + 1;
    }
    return 0;
}

// --- signals and exceptions -----------------------------------------------------------------

// signal.signal(SIGTERM, SIG_DFL) and the interpreter restoring defaults: under capture the
// default action of SIGTERM and SIGHUP is "drain, record `stopped`, then die by the signal",
// so SIG_DFL maps to pyhost's handler, and Python still reports SIG_DFL.
PyOS_sighandler_t __wrap_PyOS_setsig(int signal_number, PyOS_sighandler_t handler) {
    if (handler == SIG_DFL && (signal_number == SIGTERM || signal_number == SIGHUP)) {
        if (PyOS_sighandler_t ours = pyhost::capture::termination_handler(); ours != nullptr) {
            const PyOS_sighandler_t previous = __real_PyOS_setsig(signal_number, ours);
            return previous == ours ? SIG_DFL : previous;
        }
    }
    const PyOS_sighandler_t previous = __real_PyOS_setsig(signal_number, handler);
    if (PyOS_sighandler_t ours = pyhost::capture::termination_handler(); ours != nullptr && previous == ours) {
        return SIG_DFL;
    }
    return previous;
}

// The default sys.excepthook: prints the traceback exactly as before; capture keeps the
// exception's type, message and printed text for the run's final status.
void __wrap_PyErr_Display(PyObject* type, PyObject* value, PyObject* traceback) {
    if (!pyhost::capture::active()) {
        __real_PyErr_Display(type, value, traceback);
        return;
    }
    pyhost::capture::ExceptionDisplayScope display;
    __real_PyErr_Display(type, value, traceback);
    PyObject *saved_type, *saved_value, *saved_traceback;
    PyErr_Fetch(&saved_type, &saved_value, &saved_traceback);
    std::string type_name = "<unknown>";
    if (type != nullptr && PyType_Check(type)) {
        const char* name = reinterpret_cast<PyTypeObject*>(type)->tp_name;  // "module.Name" or "Name"
        type_name = name != nullptr ? name : "<unknown>";
    }
    std::string message;
    if (value != nullptr) {
        if (PyObject* text = PyObject_Str(value)) {
            Py_ssize_t size = 0;
            if (const char* utf8 = PyUnicode_AsUTF8AndSize(text, &size)) {
                message.assign(utf8, static_cast<size_t>(size));
            }
            Py_DECREF(text);
        }
        PyErr_Clear();
    }
    std::string text = display.take_text();
    while (!text.empty() && text.back() == '\n') {
        text.pop_back();
    }
    pyhost::capture::note_displayed_exception(std::move(type_name), std::move(message), std::move(text));
    PyErr_Restore(saved_type, saved_value, saved_traceback);
}

}  // extern "C"

namespace pyhost::interp {

ssize_t real_write(int fd, const void* data, std::size_t size) noexcept { return __real_write(fd, data, size); }

}  // namespace pyhost::interp
