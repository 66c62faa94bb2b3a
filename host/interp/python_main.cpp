#include "interp/python_main.hpp"

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "bindings/bindings.hpp"
#include "capture/capture.hpp"
#include "diag/log.hpp"
#include "run/exit_path.hpp"

// Private but exported by the static libpython3.11: the second half of a two-phase start-up
// (PyConfig._init_main = 0), as used by CPython's own Programs/_testembed.c.
extern "C" PyStatus _Py_InitializeMain(void);
// Private but exported (Include/internal/pycore_traceback.h): faulthandler's dump of every
// thread, safe to call without the GIL from another thread (that is what its watchdog does).
extern "C" const char* _Py_DumpTracebackThreads(int fd, PyInterpreterState* interp, PyThreadState* current_tstate);

namespace pyhost::interp {
namespace {

// What pymain_main() does with a failed start-up: an "exit" status (--version, --help, a
// usage error) is a plain exit status; anything else is a fatal error that CPython reports
// and exits on itself, so the exit path runs first.
int end_of_failed_start(PyStatus status) {
    if (PyStatus_IsExit(status)) {
        return status.exitcode;
    }
    run::exit_path::finish(run::Outcome::exited(1));
    Py_ExitStatusException(status);  // prints "Fatal Python error: ..." and exits
}

// Reads the configuration the way python3's pymain_init() does: the pre-configuration (locale,
// UTF-8 mode, allocator) from the same argv first, then PyConfig from argv and the environment.
PyStatus pre_initialize(std::vector<char*>& argv) {
    PyPreConfig preconfig;
    PyPreConfig_InitPythonConfig(&preconfig);
    return Py_PreInitializeFromBytesArgs(&preconfig, static_cast<Py_ssize_t>(argv.size()), argv.data());
}

}  // namespace

int run_python(std::vector<char*> argv, Capture capture_mode) {
    PyStatus status = pre_initialize(argv);
    if (PyStatus_Exception(status)) {
        return end_of_failed_start(status);
    }

    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    status = PyConfig_SetBytesArgv(&config, static_cast<Py_ssize_t>(argv.size()), argv.data());
    if (!PyStatus_Exception(status)) {
        // Two phases, so that the host can act between the core (builtins, sys, the frozen
        // import machinery) and the rest (sys.stdout, site, sitecustomize, .pth files, the
        // program): whatever it installs is in place before any user code runs.
        config._init_main = 0;
        status = Py_InitializeFromConfig(&config);
    }
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        return end_of_failed_start(status);
    }

    if (capture_mode == Capture::on) {
        bindings::install_import_hook();
    }
    status = _Py_InitializeMain();
    if (PyStatus_Exception(status)) {
        return end_of_failed_start(status);
    }
    if (capture_mode == Capture::on) {
        capture::install_termination_handlers();
        capture::start_thread();
    }

    // Runs the target, finalizes, and returns the status (or does not return: see exit_hooks.cpp).
    return Py_RunMain();
}

void dump_thread_stacks(int fd) noexcept {
    if (PyInterpreterState* interp = PyInterpreterState_Main(); interp != nullptr) {
        if (const char* error = _Py_DumpTracebackThreads(fd, interp, nullptr); error != nullptr) {
            PYHOST_LOG(warning) << "timeout: cannot dump the stacks: " << error;
        }
    }
}

int print_python_usage(char* argv0) {
    char help_flag[] = "--help";
    std::vector<char*> argv{argv0, help_flag};
    PyStatus status = pre_initialize(argv);
    if (!PyStatus_Exception(status)) {
        PyConfig config;
        PyConfig_InitPythonConfig(&config);
        status = PyConfig_SetBytesArgv(&config, static_cast<Py_ssize_t>(argv.size()), argv.data());
        if (!PyStatus_Exception(status)) {
            status = PyConfig_Read(&config);  // prints the usage and asks to exit
        }
        PyConfig_Clear(&config);
    }
    return PyStatus_IsExit(status) ? status.exitcode : 1;
}

}  // namespace pyhost::interp
