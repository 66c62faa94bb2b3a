#include "diag/log.hpp"

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>

#include <boost/core/null_deleter.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/log/sources/record_ostream.hpp>
#include <boost/log/sources/severity_logger.hpp>
#include <boost/log/utility/manipulators/add_value.hpp>

#include <unistd.h>

namespace pyhost::diag {
namespace {

constexpr std::string_view k_level_names[] = {"trace", "debug", "info", "warning", "error", "off"};

std::string_view name_of(Level level) { return k_level_names[static_cast<int>(level)]; }

Level read_threshold() noexcept {
    const char* word = std::getenv("PYHOST_LOG_LEVEL");
    Level level = Level::error;
    if (word != nullptr && *word != '\0' && !parse_level(word, level)) {
        // A typo must not silence errors; say so once, in the format of any other record.
        std::cerr << "pyhost: warning: PYHOST_LOG_LEVEL=" << word
                  << " is not one of trace, debug, info, warning, error, off; using error\n";
        level = Level::error;
    }
    return level;
}

thread_local bool t_writing = false;

// stderr by write(2) itself, not through C stdio: under capture, fd 2 may be a pipe that
// pyhost reads as the program's native output, and the write() hook must see (and route)
// these bytes. One write() per record keeps records whole when threads log at once.
class StderrBuffer : public std::streambuf {
protected:
    std::streamsize xsputn(const char* data, std::streamsize size) override {
        m_line.append(data, static_cast<std::size_t>(size));
        return size;
    }
    int_type overflow(int_type c) override {
        if (c != traits_type::eof()) {
            m_line += static_cast<char>(c);
        }
        return traits_type::not_eof(c);
    }
    int sync() override {
        std::size_t done = 0;
        while (done < m_line.size()) {
            const ssize_t n = ::write(2, m_line.data() + done, m_line.size() - done);
            if (n <= 0) {
                break;
            }
            done += static_cast<std::size_t>(n);
        }
        m_line.clear();
        return 0;
    }

private:
    std::string m_line;
};

using Logger = boost::log::sources::severity_logger_mt<Level>;

// Set up on first use: a synchronous stderr sink, so a record is on the terminal before the
// statement that wrote it returns (diagnostics around a crash must not sit in a queue).
Logger& logger() {
    static Logger* instance = [] {
        namespace logging = boost::log;
        namespace expr = boost::log::expressions;
        using Backend = logging::sinks::text_ostream_backend;
        auto backend = boost::make_shared<Backend>();
        static StderrBuffer buffer;
        static std::ostream stream(&buffer);
        backend->add_stream(boost::shared_ptr<std::ostream>(&stream, boost::null_deleter()));
        backend->auto_flush(true);
        auto sink = boost::make_shared<logging::sinks::synchronous_sink<Backend>>(backend);
        sink->set_formatter(expr::stream << "pyhost[" << expr::attr<pid_t>("Pid") << "]: "
                                         << expr::attr<std::string_view>("LevelName") << ": "
                                         << expr::smessage);
        logging::core::get()->add_sink(sink);
        return new Logger();  // intentionally immortal: records may be written during exit
    }();
    return *instance;
}

}  // namespace

bool parse_level(std::string_view word, Level& level) noexcept {
    for (int i = 0; i < static_cast<int>(std::size(k_level_names)); ++i) {
        if (word == k_level_names[i]) {
            level = static_cast<Level>(i);
            return true;
        }
    }
    return false;
}

Level threshold() noexcept {
    static const Level value = read_threshold();
    return value;
}

void write(Level level, std::string_view message) noexcept {
    if (!enabled(level)) {
        return;
    }
    const bool previous = t_writing;
    t_writing = true;
    try {
        BOOST_LOG_SEV(logger(), level) << boost::log::add_value("Pid", ::getpid())
                                       << boost::log::add_value("LevelName", name_of(level))
                                       << message;
    } catch (...) {
        // Diagnostics must never take the program down; fall back to a raw write.
        std::cerr << "pyhost: " << name_of(level) << ": " << message << '\n';
    }
    t_writing = previous;
}

bool writing_now() noexcept { return t_writing; }

}  // namespace pyhost::diag
