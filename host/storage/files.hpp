// File-system steps the run modes share: directories made on demand, files copied so that no
// reader ever sees half of one, trees removed.
#pragma once

#include <string>

namespace pyhost::storage {

// mkdir -p, with `mode` for the directories it creates. False (errno set) on failure, also
// when `path` exists and is not a directory.
bool make_directories(const std::string& path, unsigned mode = 0700);

// Copies `source` to `destination` atomically: a temporary file in the destination's
// directory, fsync'd, then renamed over it. Creates missing directories (0755). Returns an
// error message naming the file and the reason, or an empty string.
std::string copy_file_atomically(const std::string& source, const std::string& destination);

// Removes `path` and everything under it, without following symbolic links (a link is
// removed, never what it points to). Returns an error message, or an empty string.
std::string remove_tree(const std::string& path);

}  // namespace pyhost::storage
