#include "reporter/reporter.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include <signal.h>

#include "diag/log.hpp"
#include "reporter/cursor_store.hpp"
#include "reporter/journal_tail.hpp"
#include "run/exit_path.hpp"

namespace pyhost::reporter {
namespace {

constexpr std::size_t k_batch_records = 1000;
constexpr std::size_t k_batch_bytes = std::size_t{1} << 20;
constexpr std::chrono::milliseconds k_batch_age{1000};
constexpr std::chrono::milliseconds k_poll{50};
constexpr std::chrono::milliseconds k_backoff_base{250};
constexpr std::chrono::milliseconds k_backoff_cap{30'000};
constexpr std::chrono::milliseconds k_retry_after_cap{300'000};

// What all shippers of one journal share.
struct Shared {
    std::mutex mutex;
    std::condition_variable wake;
    bool final = false;              // the journal is complete: ship the rest, then stop
    std::atomic<bool> abort{false};  // the deadline passed: stop now
};

class Shipper {
public:
    Shipper(const Sink& sink, const RunIdentity& identity, const CurlApi& curl, const TlsOptions& tls,
            const std::string& journal_path, CursorStore& cursors, Shared& shared)
        : m_sink(sink),
          m_encoder(make_encoder(sink, identity)),
          m_client(curl, tls, shared.abort),
          m_tail(journal_path),
          m_cursors(cursors),
          m_shared(shared) {}

    void run() noexcept;
    // Bytes of the journal this sink has not acknowledged.
    std::uint64_t undelivered() { return m_tail.size() - std::min(m_tail.size(), m_offset); }
    const Sink& sink() const { return m_sink; }

private:
    bool deliver(Batch& batch);
    bool wait_for(std::chrono::milliseconds delay);  // false if aborted

    const Sink& m_sink;
    std::unique_ptr<Encoder> m_encoder;
    HttpClient m_client;
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

// Sends one batch until it is acknowledged, rejected for good, or the deadline passes.
bool Shipper::deliver(Batch& batch) {
    std::vector<HttpRequest> requests = m_encoder->encode(batch.lines);
    for (const HttpRequest& request : requests) {
        for (int attempt = 0;; ++attempt) {
            const HttpOutcome outcome = m_client.post(request);
            if (outcome.kind == HttpOutcome::Kind::delivered) {
                break;
            }
            if (outcome.kind == HttpOutcome::Kind::rejected) {
                // Final for this batch: report it and go on, never loop on it.
                PYHOST_LOG(error) << "sink " << m_sink.redacted << " rejected a batch of " << batch.lines.size()
                                  << " records (" << outcome.detail << "); it is not sent again";
                break;
            }
            if (m_shared.abort.load()) {
                return false;
            }
            // Capped exponential backoff with jitter, or what the receiver asked for.
            std::chrono::milliseconds delay = std::min<std::chrono::milliseconds>(
                k_backoff_cap, k_backoff_base * (1LL << std::min(attempt, 10)));
            delay = std::chrono::milliseconds(std::uniform_int_distribution<long long>(delay.count() / 2, delay.count())(m_random));
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

void Shipper::run() noexcept {
    // Signals are the program's, not this thread's.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);

    m_offset = m_cursors.get(m_sink.id);
    Batch batch;
    std::chrono::steady_clock::time_point pending_since{};
    bool pending = false;
    while (!m_shared.abort.load()) {
        bool final;
        {
            std::lock_guard lock(m_shared.mutex);
            final = m_shared.final;
        }
        if (m_tail.read(m_offset, k_batch_records, k_batch_bytes, batch)) {
            const auto now = std::chrono::steady_clock::now();
            if (!pending) {
                pending = true;
                pending_since = now;
            }
            const bool full = batch.lines.size() >= k_batch_records || batch.end - batch.begin >= k_batch_bytes / 2;
            if (final || full || now - pending_since >= k_batch_age) {
                if (!deliver(batch)) {
                    return;
                }
                pending = false;
                continue;  // more may be waiting
            }
        } else if (final) {
            return;  // everything the journal holds is delivered
        }
        wait_for(k_poll);
    }
}

class Reporter {
public:
    explicit Reporter(Config config) : m_config(std::move(config)), m_cursors(m_config.journal_path) {}
    Reporter(const Reporter&) = delete;
    Reporter& operator=(const Reporter&) = delete;

    // Normally finish() has joined the shippers. If the process ends some other way (a C
    // extension calling exit()), stop them rather than terminate on a joinable thread.
    ~Reporter() {
        m_shared.abort.store(true);
        m_shared.wake.notify_all();
        for (std::thread& thread : m_threads) {
            if (thread.joinable()) {
                thread.join();
            }
        }
    }

    bool start() {
        std::string error;
        const CurlApi* curl = curl_api(error);
        if (curl == nullptr) {
            PYHOST_LOG(error) << "reporter: " << error << "; nothing is shipped (the journal keeps everything)";
            return false;
        }
        for (const Sink& sink : m_config.sinks) {
            m_shippers.push_back(std::make_unique<Shipper>(sink, m_config.identity, *curl, m_config.tls,
                                                           m_config.journal_path, m_cursors, m_shared));
        }
        for (auto& shipper : m_shippers) {
            Shipper* raw = shipper.get();
            m_threads.emplace_back([raw] { raw->run(); });
        }
        return true;
    }

    // Ships what is left, until done or the deadline. Returns whether everything was delivered.
    bool finish() {
        {
            std::lock_guard lock(m_shared.mutex);
            m_shared.final = true;
        }
        m_shared.wake.notify_all();
        const auto deadline = std::chrono::steady_clock::now() + m_config.drain_timeout;
        std::unique_lock lock(m_done_mutex);
        std::thread watchdog([&] {
            std::unique_lock wait(m_done_mutex);
            if (!m_done_signal.wait_until(wait, deadline, [&] { return m_done; })) {
                m_shared.abort.store(true);
                m_shared.wake.notify_all();
            }
        });
        lock.unlock();
        for (std::thread& thread : m_threads) {
            thread.join();
        }
        {
            std::lock_guard done(m_done_mutex);
            m_done = true;
        }
        m_done_signal.notify_all();
        watchdog.join();
        bool complete = true;
        for (auto& shipper : m_shippers) {
            if (const std::uint64_t left = shipper->undelivered(); left > 0) {
                complete = false;
                PYHOST_LOG(error) << "sink " << shipper->sink().redacted << ": " << left << " bytes of "
                                  << m_config.journal_path << " not delivered within "
                                  << m_config.drain_timeout.count() << " ms; `pyhost replay "
                                  << m_config.journal_path << "` ships them later";
            }
        }
        return complete;
    }

private:
    Config m_config;
    CursorStore m_cursors;
    Shared m_shared;
    std::vector<std::unique_ptr<Shipper>> m_shippers;
    std::vector<std::thread> m_threads;
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
    auto reporter = std::make_shared<Reporter>(std::move(config));
    if (!reporter->start()) {
        return false;
    }
    // The finisher owns the reporter; it runs once, after capture wrote the final status.
    run::exit_path::add_finisher([reporter](const run::Outcome&) { reporter->finish(); });
    return true;
}

int replay(Config config) {
    Reporter reporter(std::move(config));
    if (!reporter.start()) {
        return 1;
    }
    return reporter.finish() ? 0 : 1;
}

}  // namespace pyhost::reporter
