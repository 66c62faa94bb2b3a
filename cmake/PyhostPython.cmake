# Locates Debian's CPython 3.11 and defines `pyhost::python`, the static libpython3.11.a.
#
# Why explicit: these machines put pyenv's python3 first on PATH, and FindPython3 would happily
# pick it. pyhost embeds Debian's libpython3.11 and is compared against /usr/bin/python3.11,
# so the interpreter we ask for paths is that one (override with -DPYHOST_PYTHON=...).
#
# Why static: Debian's /usr/bin/python3.11 links libpython statically. Against the shared
# library a host starts ~7% slower and runs Python code 13-29% slower (ARCHITECTURE.md,
# pitfall 8). The archive is linked whole, into a non-PIE executable, with -export-dynamic,
# so that extension modules in lib-dynload resolve the Python C API against the executable
# exactly as they do against /usr/bin/python3.11.

set(PYHOST_PYTHON "/usr/bin/python3.11" CACHE FILEPATH "CPython interpreter whose static library pyhost embeds")

if(NOT EXISTS "${PYHOST_PYTHON}")
  message(FATAL_ERROR "pyhost: ${PYHOST_PYTHON} not found; install Debian's python3.11 and libpython3.11-dev")
endif()

execute_process(
  COMMAND "${PYHOST_PYTHON}" -I -S -c
    "import sys, sysconfig as s; v = s.get_config_var; print(';'.join([s.get_paths()['include'], v('LIBPL') + '/' + v('LIBRARY'), ' '.join([v('LIBS') or '', v('MODLIBS') or '', v('SYSLIBS') or '']), '%d.%d' % sys.version_info[:2], sys.version.split()[0]]))"
  OUTPUT_VARIABLE _pyhost_python_info
  OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _pyhost_python_rc)
if(NOT _pyhost_python_rc EQUAL 0)
  message(FATAL_ERROR "pyhost: could not query sysconfig of ${PYHOST_PYTHON}")
endif()
list(GET _pyhost_python_info 0 PYHOST_PYTHON_INCLUDE_DIR)
list(GET _pyhost_python_info 1 PYHOST_PYTHON_STATIC_LIBRARY)
list(GET _pyhost_python_info 2 _pyhost_python_libs)
list(GET _pyhost_python_info 3 PYHOST_PYTHON_VERSION)
list(GET _pyhost_python_info 4 PYHOST_PYTHON_FULL_VERSION)

if(NOT PYHOST_PYTHON_VERSION VERSION_EQUAL "3.11")
  message(FATAL_ERROR "pyhost: ${PYHOST_PYTHON} is Python ${PYHOST_PYTHON_VERSION}; pyhost embeds 3.11")
endif()
if(NOT EXISTS "${PYHOST_PYTHON_INCLUDE_DIR}/Python.h")
  message(FATAL_ERROR "pyhost: Python.h missing in ${PYHOST_PYTHON_INCLUDE_DIR}; install libpython3.11-dev")
endif()
if(NOT EXISTS "${PYHOST_PYTHON_STATIC_LIBRARY}")
  message(FATAL_ERROR "pyhost: ${PYHOST_PYTHON_STATIC_LIBRARY} missing; install libpython3.11-dev")
endif()

# -lfoo words from sysconfig, deduplicated, as plain library names.
separate_arguments(_pyhost_python_libs UNIX_COMMAND "${_pyhost_python_libs}")
set(_pyhost_python_link_libs "")
foreach(_word IN LISTS _pyhost_python_libs)
  if(_word MATCHES "^-l(.+)$")
    list(APPEND _pyhost_python_link_libs "${CMAKE_MATCH_1}")
  endif()
endforeach()
list(APPEND _pyhost_python_link_libs pthread util)
list(REMOVE_DUPLICATES _pyhost_python_link_libs)

message(STATUS "pyhost: embedding CPython ${PYHOST_PYTHON_FULL_VERSION} from ${PYHOST_PYTHON_STATIC_LIBRARY}")

# Headers only: for code that includes Python.h (host/interp, bindings) without linking it.
add_library(pyhost_python_headers INTERFACE)
target_include_directories(pyhost_python_headers SYSTEM INTERFACE "${PYHOST_PYTHON_INCLUDE_DIR}")

# The whole archive, for the final executables only.
add_library(pyhost_python INTERFACE)
target_link_libraries(pyhost_python INTERFACE
  pyhost_python_headers
  "-Wl,--whole-archive" "${PYHOST_PYTHON_STATIC_LIBRARY}" "-Wl,--no-whole-archive"
  ${_pyhost_python_link_libs})
target_link_options(pyhost_python INTERFACE "-no-pie" "-Wl,-export-dynamic")
add_library(pyhost::python ALIAS pyhost_python)
