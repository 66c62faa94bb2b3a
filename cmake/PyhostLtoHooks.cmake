# cmake -DIN=libpython3.11.a -DOUT=... -DSYMBOLS="a;b" -DNM=nm -DAR=ar -DOBJCOPY=objcopy -P PyhostLtoHooks.cmake
#
# Copies a libpython3.11.a that carries LTO bytecode, with the bytecode removed from the members
# that define a symbol pyhost hooks with --wrap (Py_Exit, Py_FinalizeEx, PyOS_setsig in
# pylifecycle.o; PyErr_Display in pythonrun.o). Those members keep their regular code (the
# library is built with -ffat-lto-objects) and are linked as plain objects.
#
# Why: --wrap redirects undefined references only. When caller and callee are both LTO
# bytecode, GCC binds the call inside the LTO unit, the linker never sees a reference, and the
# hook is silently skipped (measured: handle_system_exit calling the real Py_Exit, so a
# sys.exit() ended the run without pyhost's exit path). With the defining member outside LTO,
# every call from LTO code is an undefined reference again, wrapped as in a link without LTO;
# calls inside the member itself are as they are in Debian's library.
cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS IN OUT SYMBOLS NM AR OBJCOPY)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "PyhostLtoHooks.cmake: -D${var}=... missing")
  endif()
endforeach()

execute_process(COMMAND "${NM}" -A --defined-only "${IN}"
  OUTPUT_VARIABLE defined RESULT_VARIABLE rc ERROR_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "PyhostLtoHooks.cmake: ${NM} failed on ${IN}")
endif()
string(REPLACE "\n" ";" defined "${defined}")
set(members "")
foreach(line IN LISTS defined)
  # nm -A: "archive:member:address T symbol"
  if(line MATCHES "^[^:]+:([^:]+):[0-9a-f]* [TtWD] ([^ ]+)$")
    if(CMAKE_MATCH_2 IN_LIST SYMBOLS)
      list(APPEND members "${CMAKE_MATCH_1}")
    endif()
  endif()
endforeach()
list(REMOVE_DUPLICATES members)

get_filename_component(out_dir "${OUT}" DIRECTORY)
set(work "${out_dir}/lto-hooks-members")
file(REMOVE_RECURSE "${work}")
file(MAKE_DIRECTORY "${work}")
file(COPY_FILE "${IN}" "${OUT}.tmp")
if(members)
  execute_process(COMMAND "${AR}" x "${IN}" ${members} WORKING_DIRECTORY "${work}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "PyhostLtoHooks.cmake: ${AR} x failed")
  endif()
  foreach(member IN LISTS members)
    execute_process(COMMAND "${OBJCOPY}" -R ".gnu.lto_*" -R ".gnu.debuglto_*" "${work}/${member}"
      RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "PyhostLtoHooks.cmake: ${OBJCOPY} failed on ${member}")
    endif()
  endforeach()
  # ar r replaces each member in place: the archive's order is unchanged.
  execute_process(COMMAND "${AR}" r "${OUT}.tmp" ${members} WORKING_DIRECTORY "${work}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "PyhostLtoHooks.cmake: ${AR} r failed")
  endif()
endif()
file(RENAME "${OUT}.tmp" "${OUT}")
file(REMOVE_RECURSE "${work}")
string(REPLACE ";" " " shown "${members}")
message(STATUS "pyhost: outside LTO, for the --wrap hooks: ${shown}")
