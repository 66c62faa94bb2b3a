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
#
# Which archive (PYHOST_PYTHON_STATIC_LIBRARY, or else):
# - Debian's (libpython3.11-dev): profile-guided code, but its LTO bytecode is stripped, so a
#   host misses the cross-module inlining of python3.11's own LTO link: ~4% slower Python
#   code, ~5-8% slower start-up (README, "Benchmarks").
# - With PYHOST_PGO_PYTHON (the release preset), the one cmake/build_pgo_python.sh built from
#   Debian's source package of the installed version, the way debian/rules builds it, with the
#   bytecode kept: $PYHOST_PGO_CACHE/cpython-<Debian version>/libpython3.11.a, when it exists
#   for this version and this GCC. Linked with -flto, as python3.11 is: start-up and Python
#   code at python3.11's speed. The dev preset keeps Debian's.
# An archive with LTO bytecode is linked with LTO, through PyhostLtoHooks.cmake, which keeps
# pyhost's --wrap hooks (PYHOST_WRAPPED_SYMBOLS) working.

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
list(GET _pyhost_python_info 1 _pyhost_debian_library)
list(GET _pyhost_python_info 2 _pyhost_python_libs)
list(GET _pyhost_python_info 3 PYHOST_PYTHON_VERSION)
list(GET _pyhost_python_info 4 PYHOST_PYTHON_FULL_VERSION)

if(NOT PYHOST_PYTHON_VERSION VERSION_EQUAL "3.11")
  message(FATAL_ERROR "pyhost: ${PYHOST_PYTHON} is Python ${PYHOST_PYTHON_VERSION}; pyhost embeds 3.11")
endif()
if(NOT EXISTS "${PYHOST_PYTHON_INCLUDE_DIR}/Python.h")
  message(FATAL_ERROR "pyhost: Python.h missing in ${PYHOST_PYTHON_INCLUDE_DIR}; install libpython3.11-dev")
endif()

set(PYHOST_PYTHON_STATIC_LIBRARY "" CACHE FILEPATH
  "libpython3.11.a to embed (empty: Debian's, or the PGO build with PYHOST_PGO_PYTHON)")
option(PYHOST_PGO_PYTHON "Embed the libpython3.11.a of cmake/build_pgo_python.sh when it exists" OFF)
if(DEFINED ENV{PYHOST_PGO_CACHE} AND NOT "$ENV{PYHOST_PGO_CACHE}" STREQUAL "")
  set(_pyhost_pgo_cache_default "$ENV{PYHOST_PGO_CACHE}")
else()
  set(_pyhost_pgo_cache_default "/var/cache/pyhost")
endif()
set(PYHOST_PGO_CACHE "${_pyhost_pgo_cache_default}" CACHE PATH "Where cmake/build_pgo_python.sh keeps its libraries")

set(_pyhost_python_library "${_pyhost_debian_library}")
if(PYHOST_PYTHON_STATIC_LIBRARY)
  set(_pyhost_python_library "${PYHOST_PYTHON_STATIC_LIBRARY}")
elseif(PYHOST_PGO_PYTHON)
  execute_process(COMMAND dpkg-query -W "-f=\${Version}" libpython3.11-dev
    OUTPUT_VARIABLE _pyhost_debian_version RESULT_VARIABLE _pyhost_rc ERROR_QUIET)
  execute_process(COMMAND "${CMAKE_C_COMPILER}" -dumpfullversion
    OUTPUT_VARIABLE _pyhost_gcc_version OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(_pyhost_pgo_dir "${PYHOST_PGO_CACHE}/cpython-${_pyhost_debian_version}")
  set(_pyhost_pgo_info "")
  if(_pyhost_rc EQUAL 0 AND EXISTS "${_pyhost_pgo_dir}/BUILD-INFO")
    file(STRINGS "${_pyhost_pgo_dir}/BUILD-INFO" _pyhost_pgo_info REGEX "^gcc=")
  endif()
  if(EXISTS "${_pyhost_pgo_dir}/libpython3.11.a" AND _pyhost_pgo_info STREQUAL "gcc=${_pyhost_gcc_version}")
    set(_pyhost_python_library "${_pyhost_pgo_dir}/libpython3.11.a")
  else()
    message(STATUS "pyhost: no PGO libpython3.11.a for ${_pyhost_debian_version} and GCC ${_pyhost_gcc_version} "
                   "in ${PYHOST_PGO_CACHE} (cmake/build_pgo_python.sh builds it); Debian's is slower")
  endif()
endif()
if(NOT EXISTS "${_pyhost_python_library}")
  message(FATAL_ERROR "pyhost: ${_pyhost_python_library} missing; install libpython3.11-dev")
endif()

# LTO bytecode in the archive (cmake/build_pgo_python.sh's, not Debian's): link with LTO.
find_program(PYHOST_READELF NAMES readelf REQUIRED)
execute_process(COMMAND "${PYHOST_READELF}" -SW "${_pyhost_python_library}" OUTPUT_VARIABLE _pyhost_sections ERROR_QUIET)
string(FIND "${_pyhost_sections}" ".gnu.lto_" _pyhost_lto_at)
set(PYHOST_PYTHON_LTO OFF)
if(NOT _pyhost_lto_at EQUAL -1)
  set(PYHOST_PYTHON_LTO ON)
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

if(PYHOST_PYTHON_LTO)
  message(STATUS "pyhost: embedding CPython ${PYHOST_PYTHON_FULL_VERSION} from ${_pyhost_python_library}, with LTO")
else()
  message(STATUS "pyhost: embedding CPython ${PYHOST_PYTHON_FULL_VERSION} from ${_pyhost_python_library}")
endif()

# Headers only: for code that includes Python.h (host/interp, bindings) without linking it.
add_library(pyhost_python_headers INTERFACE)
target_include_directories(pyhost_python_headers SYSTEM INTERFACE "${PYHOST_PYTHON_INCLUDE_DIR}")

# The whole archive, for the final executables only.
add_library(pyhost_python INTERFACE)
set(_pyhost_linked_library "${_pyhost_python_library}")
if(PYHOST_PYTHON_LTO)
  # The members defining hooked symbols without their bytecode (see PyhostLtoHooks.cmake).
  set(_pyhost_linked_library "${CMAKE_CURRENT_BINARY_DIR}/libpython-lto/libpython3.11.a")
  add_custom_command(OUTPUT "${_pyhost_linked_library}"
    COMMAND "${CMAKE_COMMAND}" "-DIN=${_pyhost_python_library}" "-DOUT=${_pyhost_linked_library}"
            "-DSYMBOLS=${PYHOST_WRAPPED_SYMBOLS}" "-DNM=${CMAKE_NM}" "-DAR=${CMAKE_AR}"
            "-DOBJCOPY=${CMAKE_OBJCOPY}" -P "${CMAKE_CURRENT_LIST_DIR}/PyhostLtoHooks.cmake"
    DEPENDS "${_pyhost_python_library}" "${CMAKE_CURRENT_LIST_DIR}/PyhostLtoHooks.cmake"
    COMMENT "libpython3.11.a for an LTO link with pyhost's hooks"
    VERBATIM)
  add_custom_target(pyhost_python_lto_library DEPENDS "${_pyhost_linked_library}")
  add_dependencies(pyhost_python pyhost_python_lto_library)
endif()
target_link_libraries(pyhost_python INTERFACE
  pyhost_python_headers
  "-Wl,--whole-archive" "${_pyhost_linked_library}" "-Wl,--no-whole-archive"
  ${_pyhost_python_link_libs})
target_link_options(pyhost_python INTERFACE "-no-pie" "-Wl,-export-dynamic")
if(PYHOST_PYTHON_LTO)
  # debian/rules' link flags for python3.11 (-fwrapv -O3 -flto -fuse-linker-plugin), the LTRANS
  # jobs in parallel; -g0 because the archive's debug information is stripped.
  target_link_options(pyhost_python INTERFACE -flto=auto -fuse-linker-plugin -fwrapv -O3 -g0)
endif()
add_library(pyhost::python ALIAS pyhost_python)
