#include "reporter/reporter.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/block_reserve.hpp"
#include "capture/capture.hpp"
#include "capture/config.hpp"
#include "common/native_thread.hpp"
#include "diag/log.hpp"
#include "reporter/cursor_store.hpp"
#include "reporter/journal_tail.hpp"
#include "run/exit_path.hpp"

namespace pyhost::reporter {
namespace {

// A batch is full at k_batch_records records or k_batch_full_bytes, and is read k_batch_bytes
// at a time. It goes out when full, when k_batch_age old, or when the run has ended. Sinks
// that send the journal's text as it is (pyhost's own protocol) have no record limit: their
// batches are bounded by bytes, and their lines never counted (see k_uncounted).
constexpr std::size_t k_batch_records = 10000;
constexpr std::size_t k_batch_bytes = std::size_t{4} << 20;
constexpr std::size_t k_batch_full_bytes = k_batch_bytes / 2;
constexpr std::chrono::milliseconds k_batch_age{1000};
// How often a journal nobody reports the growth of (one left by an earlier run) is looked at.
constexpr std::chrono::milliseconds k_poll{50};
constexpr std::chrono::milliseconds k_backoff_base{250};
constexpr std::chrono::milliseconds k_backoff_cap{30'000};
constexpr std::chrono::milliseconds k_retry_after_cap{300'000};

constexpr std::uint64_t k_never = std::numeric_limits<std::uint64_t>::max();

// What all shippers of one journal share.
struct Shared {
    std::mutex mutex;
    std::condition_variable wake;
    bool final = false;              // the journal is complete: ship the rest, then stop
    std::atomic<bool> abort{false};  // the deadline passed: stop now

    // The run's own journal: what its writer has written so far (journal_written()), and the
    // counts at which a waiting shipper wants to be woken (the lowest asked; k_never: none).
    // A shipper registers what it waits for, then reads what was written; the writer stores
    // what it wrote, then reads the registrations: with sequentially consistent atomics at
    // least one of them sees the other, so no wake-up is missed.
    std::atomic<bool> observed{false};
    std::atomic<std::uint64_t> written_records{0};
    std::atomic<std::uint64_t> written_bytes{0};
    std::atomic<std::uint64_t> wake_at_records{k_never};
    std::atomic<std::uint64_t> wake_at_bytes{k_never};
};

void lower_to(std::atomic<std::uint64_t>& value, std::uint64_t bound) {
    std::uint64_t current = value.load();
    while (bound < current && !value.compare_exchange_weak(current, bound)) {
    }
}

// The Shared of the run's own journal, which capture reports the growth of. Set once, before
// capture is told to report; lives as long as the process.
Shared* g_run_journal = nullptr;

// capture's JournalObserver: on the thread writing the journal, after each write.
void journal_written(std::uint64_t records, std::uint64_t bytes) noexcept {
    Shared& shared = *g_run_journal;
    shared.written_records.store(records);
    shared.written_bytes.store(bytes);
    if (records >= shared.wake_at_records.load() || bytes >= shared.wake_at_bytes.load()) {
        // Every waiter wakes and registers again what it still waits for.
        shared.wake_at_records.store(k_never);
        shared.wake_at_bytes.store(k_never);
        {
            // A shipper between its registration and its wait holds the mutex: once it is
            // released, that shipper is waiting and gets the notification.
            std::lock_guard lock(shared.mutex);
        }
        shared.wake.notify_all();
    }
}

class Shipper {
public:
    Shipper(const Sink& sink, const RunIdentity& identity, const TlsOptions& tls, const std::string& journal_path,
            CursorStore& cursors, Shared& shared)
        : m_sink(sink),
          m_encoder(make_encoder(sink, identity)),
          m_curl_needs(curl_needs(sink.endpoint)),
          m_tls(tls),
          m_tail(journal_path),
          m_cursors(cursors),
          m_shared(shared) {}

    void run() noexcept;
    // Bytes of the journal this sink has not acknowledged.
    std::uint64_t undelivered() { return m_tail.size() - std::min(m_tail.size(), m_offset); }
    // Whether this shipper could ship at all (false: libcurl did not load, which it said).
    // Read after the thread has been joined.
    bool had_client() const { return m_client.has_value(); }
    const Sink& sink() const { return m_sink; }

private:
    // What a shipper waits for: the journal's writer to have written this many records or
    // bytes (k_never: no count, only the time).
    struct Growth {
        std::uint64_t records = k_never;
        std::uint64_t bytes = k_never;
    };

    bool deliver(Batch& batch);
    bool wait_for(std::chrono::milliseconds delay);  // false if aborted
    // Waits up to `delay` for `growth`; returns early when the journal becomes final (the run
    // ended: the rest goes out now) or on abort.
    void wait_for_lines(std::chrono::steady_clock::duration delay, Growth growth);

    // Loads libcurl (once per process) and makes the HTTP client, on this shipper's thread:
    // loading libcurl and its two dozen libraries, then initializing OpenSSL, takes
    // milliseconds that would otherwise delay the program's start. False (said) when it
    // cannot load.
    bool make_client();

    const Sink& m_sink;
    std::unique_ptr<Encoder> m_encoder;
    // Read from the environment here, on the thread that starts the shippers: a shipper's own
    // getenv() could race with the program changing its environment.
    CurlNeeds m_curl_needs;
    TlsOptions m_tls;
    std::optional<HttpClient> m_client;  // made by make_client(), on the shipper's thread
    JournalTail m_tail;
    CursorStore& m_cursors;
    Shared& m_shared;
    std::uint64_t m_offset = 0;
    std::mt19937_64 m_random{std::random_device{}()};
};

bool Shipper::wait_for(std::chrono::milliseconds delay) {
    std::unique_lock lock(m_shared.mutex);
    m_shared.wake.wait_for(lock, delay, [&] { return m_shared.abort.load(); });
    return !m_shared.abort.load();
}

void Shipper::wait_for_lines(std::chrono::steady_clock::duration delay, Growth growth) {
    std::unique_lock lock(m_shared.mutex);
    m_shared.wake.wait_for(lock, delay, [&] {
        if (m_shared.abort.load() || m_shared.final) {
            return true;
        }
        lower_to(m_shared.wake_at_records, growth.records);
        lower_to(m_shared.wake_at_bytes, growth.bytes);
        return m_shared.written_records.load() >= growth.records || m_shared.written_bytes.load() >= growth.bytes;
    });
}

// Sends one batch until it is acknowledged, rejected for good, or the deadline passes.
bool Shipper::deliver(Batch& batch) {
    std::vector<HttpRequest> requests = m_encoder->encode(batch);
    for (const HttpRequest& request : requests) {
        for (int attempt = 0;; ++attempt) {
            const HttpOutcome outcome = m_client->post(request);
            if (outcome.kind == HttpOutcome::Kind::delivered) {
                break;
            }
            if (outcome.kind == HttpOutcome::Kind::rejected) {
                // Final for this batch: report it (stderr and the journal) and go on, never
                // loop on it.
                const std::string message = "sink " + m_sink.redacted + " rejected a batch of " +
                                            std::to_string(batch.count_records()) + " records (" + outcome.detail +
                                            "); it is not sent again";
                PYHOST_LOG(error) << message;
                capture::push_note("ERROR", message);
                break;
            }
            if (m_shared.abort.load()) {
                return false;
            }
            // Capped exponential backoff with jitter, or what the receiver asked for.
            std::chrono::milliseconds delay = backoff_delay(attempt, k_backoff_base, k_backoff_cap, m_random);
            if (outcome.retry_after.count() >= 0) {
                delay = std::min<std::chrono::milliseconds>(outcome.retry_after, k_retry_after_cap);
            }
            if (attempt == 0 || attempt % 10 == 0) {
                PYHOST_LOG(warning) << "sink " << m_sink.redacted << ": " << outcome.detail << "; retrying in "
                                    << delay.count() << " ms";
            }
            if (!wait_for(delay)) {
                return false;
            }
        }
    }
    m_offset = batch.end;
    m_cursors.set(m_sink.id, m_offset);
    return true;
}

bool Shipper::make_client() {
    std::string error;
    const CurlApi* curl = curl_api(m_curl_needs, error);
    if (curl == nullptr) {
        PYHOST_LOG(error) << "sink " << m_sink.redacted << ": " << error << "; nothing is shipped to it: `pyhost replay "
                          << m_tail.path() << "` ships it later";
        return false;
    }
    m_client.emplace(*curl, std::move(m_tls), m_shared.abort, offered_codings(m_sink.kind), m_sink.redacted);
    return true;
}

void Shipper::run() noexcept {
    // Signals are the program's, not this thread's (nor of any thread a library loaded
    // here may start).
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    name_this_thread("pyhost-ship");
    yield_cpu_to_program();
    m_offset = m_cursors.get(m_sink.id);  // first: undelivered() counts from it, shipped or not
    if (!make_client()) {
        return;
    }
    // However the shipper stops, the last acknowledged offset is saved.
    struct SaveCursors {
        CursorStore& cursors;
        ~SaveCursors() { cursors.save(); }
    } save_cursors{m_cursors};
    Batch batch;
    const std::size_t max_records = m_sink.kind == SinkKind::jsonl ? k_uncounted : k_batch_records;
    std::chrono::steady_clock::time_point pending_since{};
    bool pending = false;
    while (!m_shared.abort.load()) {
        bool final;
        {
            std::lock_guard lock(m_shared.mutex);
            final = m_shared.final;
        }
        // Sampled before the read: what is written after it is counted towards the next look.
        const bool observed = m_shared.observed.load();
        const std::uint64_t records_before = m_shared.written_records.load();
        const std::uint64_t bytes_before = m_shared.written_bytes.load();
        if (m_tail.read(m_offset, max_records, k_batch_bytes, batch)) {
            const auto now = std::chrono::steady_clock::now();
            if (!pending) {
                pending = true;
                pending_since = now;
            }
            const std::size_t bytes = batch.end - batch.begin;
            const bool counted = batch.records != k_uncounted;
            if (final || (counted && batch.records >= k_batch_records) || bytes >= k_batch_full_bytes ||
                now - pending_since >= k_batch_age) {
                if (!deliver(batch)) {
                    return;
                }
                pending = false;
                continue;  // more may be waiting
            }
            // Not full yet. Polling for it would not do: a flood fills a batch in a few
            // milliseconds, and a shipper looking every 50 ms falls a hundred thousand records
            // behind, all left for the drain after the run. The writer wakes this thread when
            // the batch is full; otherwise it goes out by age.
            if (observed) {
                wait_for_lines(pending_since + k_batch_age - now,
                               {counted ? records_before + (k_batch_records - batch.records) : k_never,
                                bytes_before + (k_batch_full_bytes - bytes)});
                continue;
            }
        } else if (m_offset > 0 && m_tail.size() < m_offset) {
            // The journal was cut below what this sink has delivered (logrotate's copytruncate
            // empties a file in place while the run goes on appending): nothing it holds now
            // was sent. Start over from its beginning.
            PYHOST_LOG(warning) << "sink " << m_sink.redacted << ": " << m_tail.path()
                                << " was truncated below what was delivered; delivering it from its beginning";
            m_offset = 0;
            m_cursors.journal_restarted();
            m_cursors.set(m_sink.id, 0);
            continue;
        } else if (final) {
            return;  // everything the journal holds is delivered
        } else if (observed) {
            // Nothing yet: woken by the first record, whose age then counts. Idle: a good
            // moment to save the cursor.
            m_cursors.save();
            wait_for_lines(k_batch_age, {records_before + 1, k_never});
            continue;
        }
        m_cursors.save();
        wait_for_lines(k_poll, {});
    }
}

// One journal and the shippers that deliver it: the run's own journal, or one left behind by
// an earlier run in the same state directory.
struct JournalJob {
    JournalJob(std::string path, bool complete) : journal_path(std::move(path)), cursors(journal_path) {
        shared.final = complete;
    }
    std::string journal_path;
    CursorStore cursors;
    Shared shared;
    std::vector<std::unique_ptr<Shipper>> shippers;
    std::vector<std::thread> threads;
    int lock_fd = -1;  // held while this process ships a journal it does not write
};

class Reporter {
public:
    explicit Reporter(Config config) : m_config(std::move(config)), m_pid(::getpid()) {}
    Reporter(const Reporter&) = delete;
    Reporter& operator=(const Reporter&) = delete;

    // Whether this is the process that started the shippers. A forked child (os.fork,
    // multiprocessing) has a copy of this object but none of its threads: it must not join
    // or stop them.
    bool owned() const { return ::getpid() == m_pid; }

    // For `pyhost replay`, whose reporter lives on the stack: finish() has joined the shippers;
    // if it has not (an exception), stop them rather than terminate on a joinable thread. The
    // run's reporter is never destroyed (see start()).
    ~Reporter() {
        for (auto& job : m_jobs) {
            job->shared.abort.store(true);
            job->shared.wake.notify_all();
            for (std::thread& thread : job->threads) {
                if (thread.joinable()) {
                    thread.join();
                }
            }
            if (job->lock_fd >= 0) {
                ::close(job->lock_fd);
            }
        }
    }

    // `complete`: the journal is not written any more (replay, a leftover). `observed`:
    // capture writes it and reports its growth (the run's own journal).
    void start(bool complete, bool observed = false) {
        if (!m_config.journal_path.empty()) {
            auto job = std::make_unique<JournalJob>(m_config.journal_path, complete);
            if (observed && g_run_journal == nullptr) {
                // Before the shippers start: their first look already waits for the writer.
                g_run_journal = &job->shared;
                g_run_journal->observed.store(true);
                capture::observe_journal(journal_written);
            }
            add_job(std::move(job));
        }
    }

    // Journals of earlier runs in `directory` that no live process writes and that some sink
    // has not fully received: shipped alongside this run's (a run killed by SIGKILL, a run
    // whose drain deadline passed).
    void adopt_leftovers(const std::string& directory) {
        DIR* dir = ::opendir(directory.c_str());
        if (dir == nullptr) {
            return;
        }
        while (const dirent* entry = ::readdir(dir)) {
            const std::string name = entry->d_name;
            if (!name.ends_with(".jsonl")) {
                continue;
            }
            const std::string path = directory + "/" + name;
            if (path == m_config.journal_path) {
                continue;
            }
            // A live writer holds a shared lock on its journal; so does a process shipping it.
            const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                continue;
            }
            if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
                ::close(fd);
                continue;
            }
            // No live run writes it: what a killed one left reserved past its ends goes back.
            capture::release_blocks_past_end(path);
            capture::release_blocks_past_end(capture::console_log_beside(path));
            auto job = std::make_unique<JournalJob>(path, true);
            struct stat st {};
            bool behind = false;
            if (fstat(fd, &st) == 0) {
                for (const Sink& sink : m_config.sinks) {
                    behind = behind || job->cursors.get(sink.id) < static_cast<std::uint64_t>(st.st_size);
                }
            }
            if (!behind) {
                ::close(fd);
                continue;
            }
            PYHOST_LOG(info) << "reporter: shipping the rest of " << path << ", left by an earlier run";
            job->lock_fd = fd;
            add_job(std::move(job));
        }
        ::closedir(dir);
    }

    // Ships what is left, until done or the deadline. Returns whether everything was delivered.
    bool finish() {
        if (!owned()) {
            return true;  // a forked child: the parent ships the journal
        }
        for (auto& job : m_jobs) {
            {
                std::lock_guard lock(job->shared.mutex);
                job->shared.final = true;
            }
            job->shared.wake.notify_all();
        }
        const auto deadline = std::chrono::steady_clock::now() + m_config.drain_timeout;
        std::thread watchdog([&] {
            name_this_thread("pyhost-drain");
            std::unique_lock wait(m_done_mutex);
            if (!m_done_signal.wait_until(wait, deadline, [&] { return m_done; })) {
                for (auto& job : m_jobs) {
                    job->shared.abort.store(true);
                    job->shared.wake.notify_all();
                }
            }
        });
        for (auto& job : m_jobs) {
            for (std::thread& thread : job->threads) {
                thread.join();
            }
        }
        {
            std::lock_guard done(m_done_mutex);
            m_done = true;
        }
        m_done_signal.notify_all();
        watchdog.join();
        bool complete = true;
        for (auto& job : m_jobs) {
            for (auto& shipper : job->shippers) {
                if (const std::uint64_t left = shipper->undelivered(); left > 0) {
                    complete = false;
                    if (!shipper->had_client()) {
                        continue;  // said when it gave up
                    }
                    PYHOST_LOG(error) << "sink " << shipper->sink().redacted << ": " << left << " bytes of "
                                      << job->journal_path << " not delivered within "
                                      << m_config.drain_timeout.count() << " ms; `pyhost replay "
                                      << job->journal_path << "` ships them later";
                }
            }
        }
        return complete;
    }

private:
    void add_job(std::unique_ptr<JournalJob> job) {
        for (const Sink& sink : m_config.sinks) {
            job->shippers.push_back(std::make_unique<Shipper>(sink, m_config.identity, m_config.tls, job->journal_path,
                                                              job->cursors, job->shared));
        }
        for (auto& shipper : job->shippers) {
            Shipper* raw = shipper.get();
            job->threads.emplace_back([raw] { raw->run(); });
        }
        m_jobs.push_back(std::move(job));
    }

    Config m_config;
    pid_t m_pid;
    std::vector<std::unique_ptr<JournalJob>> m_jobs;
    std::mutex m_done_mutex;
    std::condition_variable m_done_signal;
    bool m_done = false;
};

}  // namespace

void read_environment(Config& config) {
    config.tls = TlsOptions::from_environment();
    if (const char* value = std::getenv("PYHOST_DRAIN_TIMEOUT"); value != nullptr && *value != '\0') {
        char* end = nullptr;
        const double seconds = std::strtod(value, &end);
        if (end == value || *end != '\0' || seconds < 0) {
            throw SinkError(std::string("PYHOST_DRAIN_TIMEOUT=") + value + " is not a number of seconds");
        }
        config.drain_timeout = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    }
}

bool start(Config config) {
    if (config.sinks.empty()) {
        return false;
    }
    const std::string leftovers = config.leftovers_directory;
    // The run's reporter lives as long as the process and is never destroyed: a forked child
    // (os.fork, multiprocessing) has a copy of it whose threads, mutexes and condition
    // variables belong to the parent; destroying those there would hang or abort the child.
    static Reporter* reporter = nullptr;
    if (reporter != nullptr) {
        return false;
    }
    reporter = new Reporter(std::move(config));
    reporter->start(false, capture::active());
    if (!leftovers.empty()) {
        reporter->adopt_leftovers(leftovers);
    }
    // Runs once, after capture wrote the final status; only in the process that started it.
    run::exit_path::add_finisher([](const run::Outcome&) { reporter->finish(); });
    return true;
}

int replay(Config config) {
    // Another process may be writing or shipping this journal right now: then replaying it
    // too would only send its records twice.
    const int fd = ::open(config.journal_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        PYHOST_LOG(error) << "replay: " << config.journal_path << " is in use by a running pyhost; it ships it itself";
        return 1;
    }
    if (fd >= 0) {
        capture::release_blocks_past_end(config.journal_path);  // no live run writes it (the lock)
    }
    Reporter reporter(std::move(config));
    reporter.start(true);
    const int status = reporter.finish() ? 0 : 1;
    if (fd >= 0) {
        ::close(fd);
    }
    return status;
}

int replay_directory(Config config, const std::string& directory) {
    config.journal_path.clear();
    Reporter reporter(std::move(config));
    reporter.start(true);
    reporter.adopt_leftovers(directory);
    return reporter.finish() ? 0 : 1;
}

}  // namespace pyhost::reporter
