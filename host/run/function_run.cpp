#include "run/function_run.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <optional>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/config.hpp"
#include "capture/final_status.hpp"
#include "common/env.hpp"
#include "diag/log.hpp"
#include "init/init_parent.hpp"
#include "reporter/curl_api.hpp"
#include "reporter/http_client.hpp"
#include "run/program_run.hpp"
#include "storage/extract.hpp"
#include "storage/files.hpp"
#include "storage/log_storage.hpp"
#include "storage/s3_client.hpp"

namespace pyhost::run {
namespace {

// Runtime and function ids name files and S3 keys: letters, digits, '.', '_' and '-', not
// starting with a dot, at most 128 characters.
void check_id(std::string_view what, const std::string& id) {
    bool ok = !id.empty() && id.size() <= 128 && id.front() != '.';
    for (const char c : id) {
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-');
    }
    if (!ok) {
        throw cli::UsageError("function: " + std::string(what) + " '" + id +
                              "' must be 1-128 letters, digits, '.', '_' or '-', not starting with '.'");
    }
}

// The archive extensions a catalogue entry may have, longest first.
constexpr std::string_view k_catalogue_extensions[] = {".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst", ".tgz",
                                                       ".txz",    ".tar",    ".gz",      ".zip"};

// A function fetched for this run: where it is, and whether it is a download to remove.
struct FetchedSource {
    std::string path;
    bool downloaded = false;
};

// FUNCTIONS_LOCATION/ID.{tar,tar.gz,...} or the directory FUNCTIONS_LOCATION/ID.
FetchedSource find_local(const std::string& catalogue, const std::string& id) {
    std::vector<std::string> found;
    struct stat st {};
    if (::stat((catalogue + "/" + id).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        found.push_back(catalogue + "/" + id);
    }
    for (const std::string_view extension : k_catalogue_extensions) {
        const std::string candidate = catalogue + "/" + id + std::string(extension);
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            found.push_back(candidate);
        }
    }
    if (found.empty()) {
        throw storage::StorageError("function " + id + " not found in FUNCTIONS_LOCATION=" + catalogue);
    }
    if (found.size() > 1) {
        throw storage::StorageError("function " + id + " is ambiguous in FUNCTIONS_LOCATION=" + catalogue + ": " +
                                    found[0] + " and " + found[1]);
    }
    return {found.front(), false};
}

// s3://bucket/prefix/ID.{tar,tar.gz,...}, downloaded into `downloads`.
FetchedSource fetch_from_s3(const std::string& catalogue, const std::string& id, const std::string& downloads,
                            const std::string& name) {
    std::string error;
    const auto where = storage::parse_s3_url(catalogue, error);
    if (!where) {
        throw storage::StorageError("FUNCTIONS_LOCATION: " + error);
    }
    storage::S3Config config = storage::S3Config::from_environment();
    const reporter::CurlApi& curl = storage::curl_for(config);
    storage::S3Client client(curl, std::move(config), reporter::TlsOptions::from_environment());
    std::string prefix = where->key;
    if (!prefix.empty() && !prefix.ends_with("/")) {
        prefix += "/";
    }
    std::vector<std::string> keys;
    if (const storage::S3Result listed = client.list(where->bucket, prefix + id + ".", keys); !listed.ok) {
        throw storage::StorageError("cannot look function " + id + " up in " + catalogue + ": " + listed.error);
    }
    std::vector<std::pair<std::string, std::string_view>> found;  // key, extension
    for (const std::string_view extension : k_catalogue_extensions) {
        for (const std::string& key : keys) {
            if (key == prefix + id + std::string(extension)) {
                found.emplace_back(key, extension);
            }
        }
    }
    if (found.empty()) {
        throw storage::StorageError("function " + id + " not found in FUNCTIONS_LOCATION=" + catalogue);
    }
    if (found.size() > 1) {
        throw storage::StorageError("function " + id + " is ambiguous in FUNCTIONS_LOCATION=" + catalogue + ": s3://" +
                                    where->bucket + "/" + found[0].first + " and s3://" + where->bucket + "/" +
                                    found[1].first);
    }
    if (!storage::make_directories(downloads)) {
        throw storage::StorageError("cannot create " + downloads + ": " + std::strerror(errno));
    }
    FetchedSource fetched{downloads + "/" + name + std::string(found.front().second), true};
    const storage::S3Result got = client.get_to_file({where->bucket, found.front().first}, fetched.path);
    if (!got.ok) {
        throw storage::StorageError("cannot download function " + id + ": " + got.error);
    }
    return fetched;
}

// The function's tree in the fresh run directory. On error the run directory is removed.
void unpack(const std::string& source, const std::string& run_directory, const storage::ExtractLimits& limits) {
    try {
        struct stat st {};
        if (::stat(source.c_str(), &st) != 0) {
            throw storage::StorageError(source + ": " + std::strerror(errno));
        }
        if (S_ISDIR(st.st_mode)) {
            storage::copy_tree(source, run_directory, limits);
        } else if (S_ISREG(st.st_mode) && storage::is_archive_name(source)) {
            storage::extract_archive(source, run_directory, limits);
        } else {
            throw storage::StorageError(source +
                                        " is neither a directory nor an archive (.tar, .tar.gz, .tgz, .tar.xz, .gz, .zip)");
        }
    } catch (const storage::StorageError&) {
        (void)storage::remove_tree(run_directory);
        throw;
    }
}

}  // namespace

int run_function(const cli::Invocation& invocation) {
    const cli::FunctionRequest& request = invocation.function;
    if (!invocation.log_file.empty() || !invocation.text_log.empty()) {
        // PYHOST_LOG_FILE from the environment is ignored likewise: the journal is spooled.
        throw cli::UsageError("function: --log-file and --text-log do not apply: a function's journal and console "
                              "log are its execution log, saved to LOGS_LOCATION");
    }
    // Everything that can be wrong with the configuration is said before anything is written.
    const storage::LogsLocation logs = storage::LogsLocation::from_environment();
    const storage::ExtractLimits limits = storage::ExtractLimits::from_environment();
    std::string executor_directory = without_trailing_slashes(env("EXECUTOR_RUN_DIRECTORY"));
    if (executor_directory.empty()) {
        executor_directory = "/tmp/executor";
    }
    capture::Config ids;
    ids.run_id = request.runtime_id;
    capture::finalize(ids);  // a random runtime id unless one was given
    const std::string runtime_id = ids.run_id;
    check_id("--runtime-id", runtime_id);

    std::string source = without_trailing_slashes(request.source);
    std::string function_id;
    if (!request.function_id.empty()) {
        function_id = request.function_id;
        check_id("--id", function_id);
        const std::string catalogue = without_trailing_slashes(env("FUNCTIONS_LOCATION"));
        if (catalogue.empty()) {
            throw cli::UsageError("function: --id " + function_id + " needs FUNCTIONS_LOCATION (a directory or s3://bucket/prefix)");
        }
    } else {
        function_id = storage::function_id_of(source);
        check_id("function id (from " + source + ")", function_id);
    }
    const std::string name = runtime_id + "_" + function_id;

    init::become_init_if_needed(init::init_mode_from_environment());

    FetchedSource fetched{source, false};
    if (!request.function_id.empty()) {
        const std::string catalogue = without_trailing_slashes(env("FUNCTIONS_LOCATION"));
        fetched = catalogue.starts_with("s3://")
                      ? fetch_from_s3(catalogue, function_id, executor_directory + "/downloads", name)
                      : find_local(catalogue, function_id);
    }
    const std::string executions = executor_directory + "/executions";
    if (!storage::make_directories(executions)) {
        throw storage::StorageError("cannot create " + executions + ": " + std::strerror(errno));
    }
    const std::string run_directory = executions + "/" + name;
    if (::mkdir(run_directory.c_str(), 0700) != 0) {
        throw storage::StorageError("cannot create the run directory " + run_directory + ": " + std::strerror(errno) +
                                    (errno == EEXIST ? " (runtime id " + runtime_id + " was used before)" : ""));
    }
    try {
        unpack(fetched.path, run_directory, limits);
    } catch (...) {
        if (fetched.downloaded) {
            ::unlink(fetched.path.c_str());
        }
        throw;
    }
    if (fetched.downloaded) {
        ::unlink(fetched.path.c_str());
    }
    std::string root;
    try {
        root = storage::find_function_root(run_directory);
    } catch (const storage::StorageError& error) {
        (void)storage::remove_tree(run_directory);
        throw storage::StorageError(std::string(error.what()) + " (function " + function_id + ")");
    }

    std::vector<std::string> argv{invocation.argv0, root + "/function.py"};
    argv.insert(argv.end(), request.args.begin(), request.args.end());
    ProgramRun run = prepare_run(invocation, std::move(argv), JournalPolicy::when_configured);
    // The execution log is the journal: spooled first, saved after the run whatever ends it.
    storage::SpooledLog log = storage::SpooledLog::create(state_directory() + "/spool", name, logs.driver,
                                                          storage::dated_target(logs, std::chrono::system_clock::now(), name));
    run.capture.journal_path = log.journal();
    run.capture.text_log_path = log.text_log();
    run.capture.run_id = runtime_id;
    run.shipping.leftovers_directory.clear();
    run.shipping.identity.function_id = function_id;
    if (run.shipping.identity.service_name == "pyhost") {
        run.shipping.identity.service_name = function_id;
    }

    init::Supervision supervision;
    if (run.limits) {
        // A backstop for a child that cannot end itself (stopped, or stuck in the kernel): its
        // own watchdog ends it at the limit plus the grace, and drains for at most the drain
        // timeout after that.
        supervision.kill_at = std::chrono::steady_clock::now() + run.limits->limit + run.limits->grace +
                              run.shipping.drain_timeout + std::chrono::seconds(5);
    }
    const auto started = std::chrono::steady_clock::now();
    rusage usage{};
    std::optional<Outcome> ended;
    try {
        ended = init::fork_supervised(supervision, &usage);
    } catch (const std::runtime_error& error) {
        log.remove();
        (void)storage::remove_tree(run_directory);
        throw storage::StorageError(std::string("cannot start the function: ") + error.what());
    }
    if (!ended) {
        // The child: the function itself.
        log.release_lock();
        if (::chdir(root.c_str()) != 0) {
            diag::to_stderr("pyhost: function: cannot enter ", root, ": ", std::strerror(errno), "\n");
            return 2;
        }
        if (request.session_info_given) {
            ::setenv("OPENOBD_SESSION_INFO", request.session_info.c_str(), 1);
        }
        ::unsetenv("PYTHONSAFEPATH");  // sys.path[0] is the function's folder
        return run_program(run);
    }

    // The parent: whatever ended the child, the journal ends with the run's final status.
    Outcome outcome = *ended;
    if (supervision.kill_at && outcome == Outcome::signaled(SIGKILL) &&
        std::chrono::steady_clock::now() >= *supervision.kill_at) {
        outcome = Outcome::timed_out();
    }
    const double duration = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const capture::JournalEnd end = capture::complete_journal(log.journal(), runtime_id, outcome, duration, usage.ru_maxrss);
    bool delivered = true;
    if (!run.shipping.sinks.empty() && end != capture::JournalEnd::failed) {
        // The child shipped as it ran; this sends what it could not (a final status the parent
        // wrote, records past the child's drain deadline).
        reporter::Config shipping = run.shipping;
        shipping.journal_path = log.journal();
        delivered = reporter::replay(std::move(shipping)) == 0;
    }
    if (const std::string error = log.save(); !error.empty()) {
        diag::to_stderr("pyhost: function: ", error, "; it stays in ", state_directory(),
                        "/spool and `pyhost replay` saves it\n");
    } else if (delivered) {
        log.remove();
    }
    if (request.keep) {
        PYHOST_LOG(info) << "function: run directory kept: " << run_directory;
    } else if (const std::string error = storage::remove_tree(run_directory); !error.empty()) {
        diag::to_stderr("pyhost: function: ", error, "\n");
    }
    return outcome.shell_status();
}

}  // namespace pyhost::run
