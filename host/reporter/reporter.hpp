// The reporter: ships the run's journal to every configured sink, from native threads that
// never take the GIL.
//
// The journal is the durable truth of a run. Each sink has its own thread, its own HTTP
// connection and its own cursor (a byte offset into the journal, saved beside it after each
// acknowledged batch), so a slow or dead sink holds back nothing but itself, and memory stays
// bounded whatever a sink does: records wait in the journal, not in RAM. Batches close at 10,000
// records, 2 MiB, or 1 s of age, and when the run ends; delivery is at least once (a resent batch carries the same
// `seq` values, so receivers can drop duplicates).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "reporter/encoders.hpp"
#include "reporter/http_client.hpp"
#include "reporter/sink.hpp"

namespace pyhost::reporter {

struct Config {
    std::vector<Sink> sinks;
    std::string journal_path;
    RunIdentity identity;
    TlsOptions tls;
    // After the run ends, how long delivery may go on (PYHOST_DRAIN_TIMEOUT, seconds).
    std::chrono::milliseconds drain_timeout{10'000};
    // The state directory's journals: those left by earlier runs are shipped too.
    std::string leftovers_directory;
};

// Reads PYHOST_DRAIN_TIMEOUT (and the TLS variables) into `config`. Throws SinkError for a
// value that is not a number of seconds.
void read_environment(Config& config);

// Starts one shipper thread per sink on the run's journal, and registers the exit path
// finisher that lets them deliver the rest (after capture wrote the final status) until the
// drain deadline. Returns at once: each shipper loads libcurl on its own thread (and reports
// it when it cannot). False if there is nothing to ship or the reporter already runs.
bool start(Config config);

// Ships what the journal holds beyond each sink's cursor, now, then stops: `pyhost replay`.
// Returns 0 when every sink got everything, 1 otherwise (reported on stderr).
int replay(Config config);

// The same for every journal in `directory` that no live process writes and that a sink has
// not fully received (`pyhost replay` without a journal: what earlier runs left).
int replay_directory(Config config, const std::string& directory);

}  // namespace pyhost::reporter
