// Link-time hooks (-Wl,--wrap=...) on calls made inside the static libpython3.11.a.
//
// --wrap redirects every reference from one object file to a symbol defined elsewhere: calls
// from libpython's objects to libc's write() or to Py_Exit (defined in another of its objects)
// reach pyhost's __wrap_ functions, which do what the originals do plus one call into the
// host. Nothing in Python's view of the world changes: sys.stdout is CPython's own object.
#pragma once

#include <cstddef>

#include <sys/types.h>

namespace pyhost::interp {

// libc's write(), bypassing the capture hook.
ssize_t real_write(int fd, const void* data, std::size_t size) noexcept;

}  // namespace pyhost::interp
