// _pyhost.Finder: the one place pyhost reacts to imports.
//
// It sits first on sys.meta_path and answers None for every module but the few it hooks, so
// imports, their errors and their timings stay the program's. For a hooked module (logging) it
// asks the finders after it for the real spec and wraps the spec's loader in a ChainedLoader,
// which puts the real loader back on the module and its spec before running it (so
// module.__loader__ and __spec__.loader are what python3 would have), then applies the hook.

#include <cstring>

#include "bindings/import_hook.hpp"
#include "bindings/ref.hpp"
#include "diag/log.hpp"

namespace pyhost::bindings {
namespace {

// getattr(object, name, None) without the AttributeError: 0 and an empty `out` when missing,
// -1 with an exception on any other error.
int lookup_optional(PyObject* object, const char* name, Ref& out) {
    out = Ref::steal(PyObject_GetAttrString(object, name));
    if (out) {
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

struct FinderObject {
    PyObject_HEAD
    int busy;  // inside our own search for the real spec
};

struct LoaderObject {
    PyObject_HEAD
    PyObject* loader;  // the real loader (owned)
};

// Asks every finder on sys.meta_path but `self` for `name`'s spec. New reference, Py_None
// if none has it, NULL with an exception on error.
PyObject* find_real_spec(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    PyObject* meta_path = PySys_GetObject("meta_path");  // borrowed
    if (meta_path == nullptr || !PyList_Check(meta_path)) {
        Py_RETURN_NONE;
    }
    Ref snapshot = Ref::steal(PyList_GetSlice(meta_path, 0, PyList_GET_SIZE(meta_path)));
    if (!snapshot) {
        return nullptr;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(snapshot.get()); ++i) {
        PyObject* finder = PyList_GET_ITEM(snapshot.get(), i);  // borrowed
        if (finder == self) {
            continue;
        }
        Ref find_spec;
        if (lookup_optional(finder, "find_spec", find_spec) < 0) {
            return nullptr;
        }
        if (!find_spec) {
            continue;
        }
        Ref spec = Ref::steal(PyObject_Vectorcall(find_spec.get(), args, static_cast<size_t>(nargs), nullptr));
        if (!spec) {
            return nullptr;
        }
        if (spec.get() != Py_None) {
            return spec.release();
        }
    }
    Py_RETURN_NONE;
}

constexpr ModuleHook k_hooks[] = {
    {"logging", logging_hooked, hook_logging_module},
    {"splight_lib.execution", splight_hooked, hook_splight_execution},
};

// find_spec(fullname, path, target=None)
PyObject* finder_find_spec(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs < 2 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "find_spec() takes 2 or 3 positional arguments");
        return nullptr;
    }
    auto* finder = reinterpret_cast<FinderObject*>(self);
    ModuleState* state = module_state();
    PyObject* name = args[0];
    if (finder->busy || state == nullptr || find_module_hook(name, state) == nullptr) {
        Py_RETURN_NONE;
    }
    finder->busy = 1;
    Ref spec = Ref::steal(find_real_spec(self, args, nargs));
    finder->busy = 0;
    if (!spec || spec.get() == Py_None) {
        return spec.release();
    }
    Ref loader = Ref::steal(PyObject_GetAttrString(spec.get(), "loader"));
    if (!loader) {
        return nullptr;
    }
    if (loader.get() == Py_None) {
        return spec.release();
    }
    auto* chained = PyObject_GC_New(LoaderObject, state->loader_type);
    if (chained == nullptr) {
        return nullptr;
    }
    chained->loader = loader.release();
    PyObject_GC_Track(chained);
    Ref chained_ref = Ref::steal(reinterpret_cast<PyObject*>(chained));
    if (PyObject_SetAttrString(spec.get(), "loader", chained_ref.get()) < 0) {
        return nullptr;
    }
    return spec.release();
}

PyMethodDef k_finder_methods[] = {
    {"find_spec", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(finder_find_spec)), METH_FASTCALL,
     "find_spec(fullname, path, target=None): None, except for modules pyhost hooks."},
    {nullptr, nullptr, 0, nullptr},
};

int finder_traverse(PyObject* self, visitproc visit, void* arg) {
    Py_VISIT(Py_TYPE(self));
    return 0;
}

void finder_dealloc(PyObject* self) {
    PyTypeObject* type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    type->tp_free(self);
    Py_DECREF(type);
}

PyType_Slot k_finder_slots[] = {
    {Py_tp_methods, k_finder_methods},
    {Py_tp_traverse, reinterpret_cast<void*>(finder_traverse)},
    {Py_tp_dealloc, reinterpret_cast<void*>(finder_dealloc)},
    {Py_tp_doc, const_cast<char*>("pyhost's meta-path finder (returns None for almost everything).")},
    {0, nullptr},
};

PyType_Spec k_finder_spec = {"_pyhost.Finder", sizeof(FinderObject), 0,
                             Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
                             k_finder_slots};

// --- ChainedLoader ---

PyObject* loader_create_module(PyObject* self, PyObject* spec) {
    auto* chained = reinterpret_cast<LoaderObject*>(self);
    Ref create = Ref();
    if (lookup_optional(chained->loader, "create_module", create) < 0) {
        return nullptr;
    }
    if (!create) {
        Py_RETURN_NONE;
    }
    return PyObject_CallOneArg(create.get(), spec);
}

PyObject* loader_exec_module(PyObject* self, PyObject* module) {
    auto* chained = reinterpret_cast<LoaderObject*>(self);
    // The module runs with the real loader in place, as under python3.
    if (PyObject_SetAttrString(module, "__loader__", chained->loader) < 0) {
        return nullptr;
    }
    Ref spec = Ref::steal(PyObject_GetAttrString(module, "__spec__"));
    if (!spec) {
        return nullptr;
    }
    if (spec.get() != Py_None && PyObject_SetAttrString(spec.get(), "loader", chained->loader) < 0) {
        return nullptr;
    }
    Ref result = Ref::steal(PyObject_CallMethod(chained->loader, "exec_module", "O", module));
    if (!result) {
        return nullptr;  // the module's own error, unchanged
    }
    Ref name = Ref::steal(PyObject_GetAttrString(module, "__name__"));
    const ModuleHook* hook = name ? find_module_hook(name.get(), module_state()) : nullptr;
    PyErr_Clear();
    if (hook != nullptr && hook->apply(module) < 0) {
        // The hook is lost; the program must not notice anything.
        PyErr_Clear();
        PYHOST_LOG(error) << "capture: cannot hook " << hook->module << "; its records reach the journal as text only";
    }
    Py_RETURN_NONE;
}

// Anything else a loader is asked for is the real loader's.
PyObject* loader_getattro(PyObject* self, PyObject* name) {
    PyObject* found = PyObject_GenericGetAttr(self, name);
    if (found != nullptr || !PyErr_ExceptionMatches(PyExc_AttributeError)) {
        return found;
    }
    PyErr_Clear();
    return PyObject_GetAttr(reinterpret_cast<LoaderObject*>(self)->loader, name);
}

PyMethodDef k_loader_methods[] = {
    {"create_module", loader_create_module, METH_O, nullptr},
    {"exec_module", loader_exec_module, METH_O, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

int loader_traverse(PyObject* self, visitproc visit, void* arg) {
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(reinterpret_cast<LoaderObject*>(self)->loader);
    return 0;
}

int loader_clear(PyObject* self) {
    Py_CLEAR(reinterpret_cast<LoaderObject*>(self)->loader);
    return 0;
}

void loader_dealloc(PyObject* self) {
    PyTypeObject* type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    loader_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

PyType_Slot k_loader_slots[] = {
    {Py_tp_methods, k_loader_methods},
    {Py_tp_getattro, reinterpret_cast<void*>(loader_getattro)},
    {Py_tp_traverse, reinterpret_cast<void*>(loader_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(loader_clear)},
    {Py_tp_dealloc, reinterpret_cast<void*>(loader_dealloc)},
    {0, nullptr},
};

PyType_Spec k_loader_spec = {"_pyhost.ChainedLoader", sizeof(LoaderObject), 0,
                             Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                             k_loader_slots};

}  // namespace

const ModuleHook* find_module_hook(PyObject* name, const ModuleState* state) {
    if (!PyUnicode_Check(name)) {
        return nullptr;
    }
    for (const ModuleHook& hook : k_hooks) {
        if (PyUnicode_CompareWithASCIIString(name, hook.module) == 0) {
            return hook.applied(state) ? nullptr : &hook;
        }
    }
    return nullptr;
}

PyTypeObject* make_finder_type(PyObject* module) {
    return reinterpret_cast<PyTypeObject*>(PyType_FromModuleAndSpec(module, &k_finder_spec, nullptr));
}

PyTypeObject* make_loader_type(PyObject* module) {
    return reinterpret_cast<PyTypeObject*>(PyType_FromModuleAndSpec(module, &k_loader_spec, nullptr));
}

}  // namespace pyhost::bindings
