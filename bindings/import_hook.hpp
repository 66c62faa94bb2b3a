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
    // splight_lib's ExecutionClient/ExecutionEngine.healthcheck before the hook, by class.
    PyObject* original_healthchecks;  // dict: class -> function
};

ModuleState* module_state() noexcept;

// Types for the module's exec slot. New references, NULL with an exception on error.
PyTypeObject* make_finder_type(PyObject* module);
PyTypeObject* make_loader_type(PyObject* module);

// The modules the finder hooks, and what it applies to each once it has run. Each hook
// requires the GIL and returns -1 with an exception set on error.
struct ModuleHook {
    const char* module;
    bool (*applied)(const ModuleState* state);
    int (*apply)(PyObject* module);
};
const ModuleHook* find_module_hook(PyObject* name, const ModuleState* state);

// logging: Logger.callHandlers (logging_hook.cpp).
int hook_logging_module(PyObject* logging_module);
bool logging_hooked(const ModuleState* state);

// splight_lib.execution: the component's healthcheck() status is reported as splight-runner
// reports it (splight_hook.cpp).
int hook_splight_execution(PyObject* execution_module);
bool splight_hooked(const ModuleState* state);

}  // namespace pyhost::bindings
