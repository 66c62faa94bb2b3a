// Internal to bindings/: the meta-path finder's types and the hooks it applies.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

namespace pyhost::bindings {

// Module state of _pyhost. Owned references; cleared at module teardown.
struct ModuleState {
    PyTypeObject* finder_type;
    PyTypeObject* loader_type;
    PyObject* original_call_handlers;  // logging.Logger.callHandlers before the hook
    PyObject* standard_record_keys;    // frozenset of LogRecord's own attribute names
    PyObject* traceback_format_exception;
    // Interned names the logging hook looks up for every record (see logging_hook.cpp).
    PyObject* names[16];
    // sys.stdout as last seen, and whether it buffers whole blocks (not a terminal): then
    // a handler's flush could carry earlier prints along with its record.
    PyObject* stdout_seen;  // borrowed, compared by identity only
    bool stdout_block_buffered;
};

ModuleState* module_state() noexcept;

// Types for the module's exec slot. New references, NULL with an exception on error.
PyTypeObject* make_finder_type(PyObject* module);
PyTypeObject* make_loader_type(PyObject* module);

// Applies the logging hook to a freshly executed `logging` module. Requires the GIL.
// Returns -1 with an exception set on error.
int hook_logging_module(PyObject* logging_module);

}  // namespace pyhost::bindings
