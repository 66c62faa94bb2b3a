# Puts libpyhost-curl.so.4, the HTTP(S)-only libcurl that cmake/build_lean_curl.sh builds from
# Debian's source of the installed libcurl4, beside the pyhost executable, where the reporter
# looks for it first (host/reporter/curl_api.cpp); without it, the reporter loads Debian's
# libcurl.so.4, which costs a shipped run 4 to 5 ms more CPU to load (the script says why).
#
# Only the build for the installed libcurl4 version is taken: one built from an earlier version
# would lack Debian's later security fixes. PYHOST_LEAN_CURL=OFF leaves it out.

option(PYHOST_LEAN_CURL "Put cmake/build_lean_curl.sh's libpyhost-curl.so.4 beside pyhost when it exists" ON)
if(PYHOST_LEAN_CURL)
  execute_process(COMMAND dpkg-query -W "-f=\${db:Status-Status} \${Version}" libcurl4
    OUTPUT_VARIABLE _pyhost_libcurl4 RESULT_VARIABLE _pyhost_rc ERROR_QUIET)
  string(REGEX REPLACE "^installed " "" _pyhost_libcurl4_version "${_pyhost_libcurl4}")
  set(_pyhost_lean_curl "${PYHOST_PGO_CACHE}/curl-${_pyhost_libcurl4_version}/libpyhost-curl.so.4")
  if(_pyhost_rc EQUAL 0 AND _pyhost_libcurl4 MATCHES "^installed " AND EXISTS "${_pyhost_lean_curl}")
    message(STATUS "pyhost: the reporter's libcurl: ${_pyhost_lean_curl}")
    add_custom_command(OUTPUT "${CMAKE_BINARY_DIR}/libpyhost-curl.so.4"
      COMMAND "${CMAKE_COMMAND}" -E copy "${_pyhost_lean_curl}" "${CMAKE_BINARY_DIR}/libpyhost-curl.so.4"
      DEPENDS "${_pyhost_lean_curl}"
      COMMENT "Copying libpyhost-curl.so.4 beside pyhost")
    add_custom_target(pyhost_lean_curl ALL DEPENDS "${CMAKE_BINARY_DIR}/libpyhost-curl.so.4")
  else()
    message(STATUS "pyhost: no libpyhost-curl.so.4 for libcurl4 '${_pyhost_libcurl4_version}' in "
                   "${PYHOST_PGO_CACHE} (cmake/build_lean_curl.sh builds it): the reporter loads Debian's "
                   "libcurl.so.4, slower to load")
    # A copy left by an earlier configuration would still be loaded: it goes.
    file(REMOVE "${CMAKE_BINARY_DIR}/libpyhost-curl.so.4")
  endif()
else()
  file(REMOVE "${CMAKE_BINARY_DIR}/libpyhost-curl.so.4")
endif()
