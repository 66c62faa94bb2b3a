// Link-time hooks (-Wl,--wrap) on the two places CPython 3.11 ends a process by itself.
//
// Both are called across object files inside the static libpython3.11.a (pythonrun.o calls
// Py_Exit, main.o calls Py_FinalizeEx), which is exactly where --wrap redirects references.
// The wrappers do what the originals do, plus one call into run::exit_path.

#include <csignal>

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "run/exit_path.hpp"

extern "C" {

// Set by the eval loop when KeyboardInterrupt escaped the program (pycore_pylifecycle.h).
extern int _Py_UnhandledKeyboardInterrupt;

int __real_Py_FinalizeEx(void);

// Py_RunMain() finalizes, then, after an unhandled KeyboardInterrupt, resets SIGINT to its
// default action and kills the process with it (bpo-1054041) instead of returning: right
// after finalization is the last moment pyhost runs on that path.
int __wrap_Py_FinalizeEx(void) {
    const int result = __real_Py_FinalizeEx();
    if (_Py_UnhandledKeyboardInterrupt) {
        pyhost::run::exit_path::finish(pyhost::run::Outcome::signaled(SIGINT));
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

}  // extern "C"
