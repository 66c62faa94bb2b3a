// splight_lib's healthcheck: what a component says about itself reaches the engine.
//
// splight-runner wraps ExecutionClient.healthcheck (ExecutionEngine.healthcheck in older
// splight_lib) and posts the status word it returns whenever it changes. pyhost does the same
// from C, when the program imports splight_lib.execution: the wrapper calls the original,
// records a status entry carrying the component's word (`component_status`), which the
// Splight sink posts on a change, and returns the original's result untouched.

#include <vector>

#include "bindings/import_hook.hpp"
#include "bindings/ref.hpp"
#include "capture/capture.hpp"
#include "capture/records.hpp"

namespace pyhost::bindings {
namespace {

constexpr const char* k_engine_classes[] = {"ExecutionClient", "ExecutionEngine"};

// healthcheck(self), as a method descriptor on the hooked class.
PyObject* healthcheck(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    ModuleState* state = module_state();
    if (state == nullptr || state->original_healthchecks == nullptr) {
        PyErr_SetString(PyExc_RuntimeError, "pyhost's healthcheck hook outlived its module");
        return nullptr;
    }
    // The original of the class that defines the method for this object (a subclass may
    // inherit it), found along the MRO.
    PyObject* original = nullptr;
    PyObject* mro = Py_TYPE(self)->tp_mro;  // borrowed tuple
    for (Py_ssize_t i = 0; mro != nullptr && i < PyTuple_GET_SIZE(mro) && original == nullptr; ++i) {
        original = PyDict_GetItemWithError(state->original_healthchecks, PyTuple_GET_ITEM(mro, i));  // borrowed
    }
    if (original == nullptr) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "pyhost: no original healthcheck for this class");
        }
        return nullptr;
    }
    std::vector<PyObject*> forward{self};
    forward.insert(forward.end(), args, args + nargs);
    PyObject* result = PyObject_Vectorcall(original, forward.data(), forward.size(), nullptr);
    if (result != nullptr && PyTuple_Check(result) && PyTuple_GET_SIZE(result) == 2 &&
        PyUnicode_Check(PyTuple_GET_ITEM(result, 1))) {
        Py_ssize_t size = 0;
        const char* word = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(result, 1), &size);
        if (word != nullptr) {
            capture::FieldList fields;
            fields.add(capture::Field::message, std::string_view(word, static_cast<std::size_t>(size)));
            fields.add(capture::Field::status, "running");
            fields.add(capture::Field::component_status, std::string_view(word, static_cast<std::size_t>(size)));
            capture::push_status(fields);
        } else {
            PyErr_Clear();
        }
    }
    return result;
}

PyMethodDef k_healthcheck_def = {
    "healthcheck", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(healthcheck)), METH_FASTCALL,
    "The component's health check (its status is reported to the Splight engine by pyhost).",
};

}  // namespace

bool splight_hooked(const ModuleState* state) { return state->original_healthchecks != nullptr; }

int hook_splight_execution(PyObject* execution_module) {
    ModuleState* state = module_state();
    if (state == nullptr || state->original_healthchecks != nullptr) {
        return 0;
    }
    Ref originals = Ref::steal(PyDict_New());
    if (!originals) {
        return -1;
    }
    for (const char* name : k_engine_classes) {
        Ref engine = Ref::steal(PyObject_GetAttrString(execution_module, name));
        if (!engine) {
            PyErr_Clear();
            continue;
        }
        if (!PyType_Check(engine.get())) {
            continue;
        }
        Ref original = Ref::steal(PyObject_GetAttrString(engine.get(), "healthcheck"));
        if (!original) {
            PyErr_Clear();
            continue;
        }
        Ref descriptor = Ref::steal(PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(engine.get()), &k_healthcheck_def));
        if (!descriptor || PyDict_SetItem(originals.get(), engine.get(), original.get()) < 0 ||
            PyObject_SetAttrString(engine.get(), "healthcheck", descriptor.get()) < 0) {
            return -1;
        }
    }
    state->original_healthchecks = originals.release();
    return 0;
}

}  // namespace pyhost::bindings
