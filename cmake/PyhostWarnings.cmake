# Warning set for pyhost's own code. PYHOST_WERROR (on in the dev preset) turns them into errors.
option(PYHOST_WERROR "Treat warnings in pyhost's own code as errors" OFF)

add_library(pyhost_warnings INTERFACE)
target_compile_options(pyhost_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Woverloaded-virtual -Wnull-dereference -Wformat=2 -Wimplicit-fallthrough
  $<$<BOOL:${PYHOST_WERROR}>:-Werror>)
