// An owning PyObject* whose ownership is visible where it is made: Ref::steal(new reference)
// or Ref::borrow(borrowed reference). Requires the GIL for everything but moving.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <utility>

namespace pyhost::bindings {

class Ref {
public:
    Ref() noexcept = default;
    static Ref steal(PyObject* object) noexcept { return Ref(object); }
    static Ref borrow(PyObject* object) noexcept {
        Py_XINCREF(object);
        return Ref(object);
    }
    Ref(const Ref& other) noexcept : m_object(Py_XNewRef(other.m_object)) {}
    Ref(Ref&& other) noexcept : m_object(std::exchange(other.m_object, nullptr)) {}
    Ref& operator=(Ref other) noexcept {
        std::swap(m_object, other.m_object);
        return *this;
    }
    ~Ref() { Py_XDECREF(m_object); }

    PyObject* get() const noexcept { return m_object; }
    // Gives the reference away (to a function that steals it).
    PyObject* release() noexcept { return std::exchange(m_object, nullptr); }
    explicit operator bool() const noexcept { return m_object != nullptr; }

private:
    explicit Ref(PyObject* object) noexcept : m_object(object) {}
    PyObject* m_object = nullptr;
};

}  // namespace pyhost::bindings
