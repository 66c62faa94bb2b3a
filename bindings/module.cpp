// The _pyhost built-in module: module definition, state, and installation.

#include "bindings/bindings.hpp"
#include "bindings/import_hook.hpp"
#include "bindings/ref.hpp"
#include "diag/log.hpp"

namespace pyhost::bindings {
namespace {

// The module exists once per process (pyhost runs one main interpreter); the hooks it
// installs on other modules' objects reach its state through this borrowed pointer, set in
// the exec slot and cleared in m_free.
PyObject* g_module = nullptr;

ModuleState* state_of(PyObject* module) { return static_cast<ModuleState*>(PyModule_GetState(module)); }

int module_exec(PyObject* module) {
    ModuleState* state = state_of(module);
    state->finder_type = make_finder_type(module);
    if (state->finder_type == nullptr) {
        return -1;
    }
    state->loader_type = make_loader_type(module);
    if (state->loader_type == nullptr) {
        return -1;
    }
    g_module = module;
    return 0;
}

int module_traverse(PyObject* module, visitproc visit, void* arg) {
    ModuleState* state = state_of(module);
    Py_VISIT(state->finder_type);
    Py_VISIT(state->loader_type);
    Py_VISIT(state->original_call_handlers);
    Py_VISIT(state->standard_record_keys);
    Py_VISIT(state->traceback_format_exception);
    Py_VISIT(state->original_healthchecks);
    for (PyObject* name : state->names) {
        Py_VISIT(name);
    }
    return 0;
}

int module_clear(PyObject* module) {
    ModuleState* state = state_of(module);
    Py_CLEAR(state->finder_type);
    Py_CLEAR(state->loader_type);
    Py_CLEAR(state->original_call_handlers);
    Py_CLEAR(state->standard_record_keys);
    Py_CLEAR(state->traceback_format_exception);
    Py_CLEAR(state->original_healthchecks);
    for (PyObject*& name : state->names) {
        Py_CLEAR(name);
    }
    return 0;
}

void module_free(void* module) {
    module_clear(static_cast<PyObject*>(module));
    g_module = nullptr;
}

PyModuleDef k_module = {
    PyModuleDef_HEAD_INIT,
    "_pyhost",
    "pyhost's in-process capture: the import hook and the logging hook (internal).",
    sizeof(ModuleState),
    nullptr,
    nullptr,
    module_traverse,
    module_clear,
    module_free,
};

// The module object, owned here for the life of the interpreter. It is created directly,
// not imported: it appears in neither sys.modules nor sys.builtin_module_names, and `-v`
// prints nothing about it, so a program sees only the finder on sys.meta_path.
PyObject* g_module_owner = nullptr;

}  // namespace

ModuleState* module_state() noexcept { return g_module != nullptr ? state_of(g_module) : nullptr; }

bool install_import_hook() {
    Ref module = Ref::steal(PyModule_Create(&k_module));
    if (!module || module_exec(module.get()) < 0) {
        PyErr_Print();
        PYHOST_LOG(error) << "capture: cannot create _pyhost; logging records are not captured";
        return false;
    }
    ModuleState* state = state_of(module.get());
    Ref finder = Ref::steal(PyObject_CallNoArgs(reinterpret_cast<PyObject*>(state->finder_type)));
    PyObject* meta_path = PySys_GetObject("meta_path");  // borrowed
    if (!finder || meta_path == nullptr || !PyList_Check(meta_path) || PyList_Insert(meta_path, 0, finder.get()) != 0) {
        PyErr_Print();
        PYHOST_LOG(error) << "capture: cannot install the import hook; logging records are not captured";
        return false;
    }
    g_module_owner = module.release();
    return true;
}

}  // namespace pyhost::bindings
