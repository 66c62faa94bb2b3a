// `pyhost function SOURCE|--id FUNCTION_ID [--session-info B64] [--runtime-id ID]
// [--timeout SECONDS] [--keep] [-- ARG...]`: an openOBD function, run as openOBD's executor
// runs it (REFERENCE.md, section 2), without its flaws.
//
// The function (an archive: .tar, .tar.gz, .tgz, .tar.xz, .gz, .zip; or a directory; or, with
// --id, the archive or directory of that name in FUNCTIONS_LOCATION, a local directory or
// s3://bucket/prefix) is extracted, under the rules for untrusted archives
// (storage/extract.hpp), into a fresh run directory,
// EXECUTOR_RUN_DIRECTORY/executions/{runtime_id}_{function_id}. Its function.py (at the root,
// or in the archive's single top-level folder) runs with that folder as working directory and
// sys.path[0], and OPENOBD_SESSION_INFO in its environment.
//
// The program runs in a child process; this process supervises it (signals are forwarded),
// so that whatever ends it, a crash or SIGKILL included, the execution log is saved:
// the console log and the journal go to LOGS_LOCATION/YYYY/MM/DD/{runtime_id}_{function_id}.log
// and .jsonl (STORAGE_DRIVER local: a directory, written atomically; s3: uploaded). A log that
// cannot be saved stays in the state directory's spool, named on stderr, and `pyhost replay`
// saves it later. The run directory is then removed (unless --keep). The exit status is the
// function's own (128 + n for a signal, 124 past its time limit).
#pragma once

#include "cli/invocation.hpp"

namespace pyhost::run {

// Throws cli::UsageError for a bad request, storage::StorageError when the function cannot
// be fetched or extracted.
int run_function(const cli::Invocation& invocation);

}  // namespace pyhost::run
