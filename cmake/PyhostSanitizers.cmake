# ASan + UBSan for the dev build. CPython itself is not instrumented (it comes prebuilt from
# Debian), so the checks cover pyhost's code and every allocation it makes; the interpreter's
# own allocations still alive at exit are named in tests/support/lsan.supp, not hidden by
# switching leak detection off.
option(PYHOST_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)

add_library(pyhost_sanitizers INTERFACE)
if(PYHOST_SANITIZE)
  target_compile_options(pyhost_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(pyhost_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
