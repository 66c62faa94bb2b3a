# Puts the lean libcurls that cmake/build_lean_curl.sh builds from Debian's source of the
# installed libcurl4 beside the pyhost executable, where the reporter and the S3 client look for
# them first (host/reporter/curl_api.hpp): libpyhost-curl.so.4 (HTTP and HTTPS over OpenSSL)
# and libpyhost-curl-http.so.4 (plain HTTP). Without them, Debian's libcurl.so.4 is loaded,
# which costs a shipped run 4 to 7 ms more CPU (the script says why).
#
# Only the build for the installed libcurl4 version is taken: one built from an earlier version
# would lack Debian's later security fixes. PYHOST_LEAN_CURL=OFF leaves them out.

set(_pyhost_lean_curl_names libpyhost-curl.so.4 libpyhost-curl-http.so.4)
option(PYHOST_LEAN_CURL "Put cmake/build_lean_curl.sh's libcurls beside pyhost when they exist" ON)
set(_pyhost_lean_curl_dir "")
if(PYHOST_LEAN_CURL)
  execute_process(COMMAND dpkg-query -W "-f=\${db:Status-Status} \${Version}" libcurl4
    OUTPUT_VARIABLE _pyhost_libcurl4 RESULT_VARIABLE _pyhost_rc ERROR_QUIET)
  string(REGEX REPLACE "^installed " "" _pyhost_libcurl4_version "${_pyhost_libcurl4}")
  set(_pyhost_candidate "${PYHOST_PGO_CACHE}/curl-${_pyhost_libcurl4_version}")
  if(_pyhost_rc EQUAL 0 AND _pyhost_libcurl4 MATCHES "^installed ")
    set(_pyhost_lean_curl_dir "${_pyhost_candidate}")
    foreach(_pyhost_name IN LISTS _pyhost_lean_curl_names)
      if(NOT EXISTS "${_pyhost_candidate}/${_pyhost_name}")
        set(_pyhost_lean_curl_dir "")
      endif()
    endforeach()
  endif()
  if(NOT _pyhost_lean_curl_dir)
    message(STATUS "pyhost: no lean libcurls for libcurl4 '${_pyhost_libcurl4_version}' in ${PYHOST_PGO_CACHE} "
                   "(cmake/build_lean_curl.sh builds them): Debian's libcurl.so.4 is loaded, slower to load")
  endif()
endif()

set(_pyhost_lean_curl_outputs "")
foreach(_pyhost_name IN LISTS _pyhost_lean_curl_names)
  if(_pyhost_lean_curl_dir)
    add_custom_command(OUTPUT "${CMAKE_BINARY_DIR}/${_pyhost_name}"
      COMMAND "${CMAKE_COMMAND}" -E copy "${_pyhost_lean_curl_dir}/${_pyhost_name}" "${CMAKE_BINARY_DIR}/${_pyhost_name}"
      DEPENDS "${_pyhost_lean_curl_dir}/${_pyhost_name}"
      COMMENT "Copying ${_pyhost_name} beside pyhost")
    list(APPEND _pyhost_lean_curl_outputs "${CMAKE_BINARY_DIR}/${_pyhost_name}")
  else()
    # A copy left by an earlier configuration would still be loaded: it goes.
    file(REMOVE "${CMAKE_BINARY_DIR}/${_pyhost_name}")
  endif()
endforeach()
if(_pyhost_lean_curl_outputs)
  message(STATUS "pyhost: the lean libcurls: ${_pyhost_lean_curl_dir}")
  add_custom_target(pyhost_lean_curl ALL DEPENDS ${_pyhost_lean_curl_outputs})
endif()
