// The `_pyhost` built-in module, as host/interp drives it. Only created when capture is on,
// and never imported: with or without capture, sys.modules and sys.builtin_module_names are
// python3's.
#pragma once

namespace pyhost::bindings {

// After the core phase of start-up (builtins, sys, frozen import machinery), before site and
// any user code: creates _pyhost and puts its meta-path finder first on sys.meta_path.
// Requires the GIL. Returns false with the error reported (capture then lacks the logging hook).
bool install_import_hook();

}  // namespace pyhost::bindings
