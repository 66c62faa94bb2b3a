#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <unistd.h>

#include "capture/final_status.hpp"
#include "run/timeout.hpp"
#include "storage/files.hpp"
#include "storage/log_storage.hpp"
#include "scratch_files.hpp"

using pyhost::testing::read_all;
using pyhost::testing::TemporaryDirectory;
using pyhost::testing::write_all;

TEST_CASE("time limits are seconds, fractions allowed, nothing else") {
    using pyhost::run::timeout::parse_seconds;
    CHECK(parse_seconds("2") == std::chrono::milliseconds(2000));
    CHECK(parse_seconds("0.25") == std::chrono::milliseconds(250));
    CHECK(parse_seconds("0") == std::chrono::milliseconds(0));
    for (const char* bad : {"", "-1", "1s", "abc", "nan", "inf", "1e20"}) {
        CHECK_FALSE(parse_seconds(bad).has_value());
    }
}

TEST_CASE("a journal cut short gets its final status, continuing its seq, once") {
    TemporaryDirectory dir;
    const std::string journal = dir.path + "/run.jsonl";
    write_all(journal,
              "{\"seq\":1,\"ts\":\"2026-12-02T00:00:00.000000Z\",\"run_id\":\"r\",\"stream\":\"status\",\"level\":\"INFO\","
              "\"logger\":null,\"message\":\"running\",\"status\":\"running\"}\n"
              "{\"seq\":2,\"ts\":\"2026-12-02T00:00:00.000001Z\",\"run_id\":\"r\",\"stream\":\"stdout\",\"level\":\"INFO\","
              "\"logger\":null,\"message\":\"hello\"}\n"
              "{\"seq\":3,\"ts\":\"2026-12-02T00:00:0");  // torn by SIGKILL
    using pyhost::capture::complete_journal;
    using pyhost::capture::JournalEnd;
    using pyhost::run::Outcome;
    CHECK(complete_journal(journal, "r", Outcome::signaled(9), 1.5, 2048) == JournalEnd::completed);
    std::istringstream lines(read_all(journal));
    std::string line, last;
    int count = 0;
    while (std::getline(lines, line)) {
        last = line;
        ++count;
    }
    CHECK(count == 3);
    const boost::json::object final = boost::json::parse(last).as_object();
    CHECK(final.at("seq").as_int64() == 3);
    CHECK(final.at("run_id").as_string() == "r");
    CHECK(final.at("stream").as_string() == "status");
    CHECK(final.at("status").as_string() == "stopped");
    CHECK(final.at("signal").as_string() == "SIGKILL");
    CHECK(final.at("exit_code").as_int64() == 137);
    CHECK(final.at("max_rss_kib").as_int64() == 2048);
    // Complete now: a second call adds nothing.
    const std::string before = read_all(journal);
    CHECK(complete_journal(journal, "r", Outcome::exited(0), 1.0, 0) == JournalEnd::complete);
    CHECK(read_all(journal) == before);
}

TEST_CASE("a final status gives the run's duration in seconds with six decimals, as written") {
    using pyhost::run::Outcome;
    const auto duration_text = [](double seconds) {
        const pyhost::capture::FieldList fields =
            pyhost::capture::final_status_fields(Outcome::exited(0), seconds, 0, nullptr);
        std::string detail;
        const std::string_view bytes = fields.bytes();
        pyhost::capture::for_each_field(std::as_bytes(std::span(bytes.data(), bytes.size())),
                                        [&](pyhost::capture::Field tag, std::string_view value) {
                                            if (tag == pyhost::capture::Field::detail) {
                                                detail = value;
                                            }
                                        });
        return detail;
    };
    CHECK(duration_text(0.0) == "\"duration_s\":0.000000");
    CHECK(duration_text(0.5) == "\"duration_s\":0.500000");
    CHECK(duration_text(12.3456789) == "\"duration_s\":12.345679");
    CHECK(duration_text(0.0000004) == "\"duration_s\":0.000000");
    CHECK(duration_text(0.0000006) == "\"duration_s\":0.000001");
    CHECK(duration_text(86400.000001) == "\"duration_s\":86400.000001");
    CHECK(duration_text(-1.0) == "\"duration_s\":0.000000");  // a clock gone backwards is not a duration
}

TEST_CASE("an empty or missing journal gets a final status as its first record") {
    TemporaryDirectory dir;
    const std::string journal = dir.path + "/none.jsonl";
    CHECK(pyhost::capture::complete_journal(journal, "r2", pyhost::run::Outcome::timed_out(), 3.0, 0) ==
          pyhost::capture::JournalEnd::completed);
    const boost::json::object final = boost::json::parse(read_all(journal)).as_object();
    CHECK(final.at("seq").as_int64() == 1);
    CHECK(final.at("status").as_string() == "timed_out");
    CHECK(final.at("exit_code").as_int64() == 124);
}

TEST_CASE("execution logs are dated YYYY/MM/DD under their location, in UTC") {
    using namespace pyhost::storage;
    const auto when = std::chrono::system_clock::from_time_t(1'764'633'600);  // 2025-12-02T00:00:00Z
    CHECK(dated_target(LogsLocation{Driver::local, "/var/logs"}, when, "r_f") == "/var/logs/2025/12/02/r_f");
    CHECK(dated_target(LogsLocation{Driver::s3, "s3://bucket"}, when, "r_f") == "s3://bucket/2025/12/02/r_f");
    CHECK(dated_target(LogsLocation{Driver::s3, "s3://bucket/prefix"}, when, "r_f") ==
          "s3://bucket/prefix/2025/12/02/r_f");
}

TEST_CASE("a file copied atomically is whole at its destination, directories made") {
    TemporaryDirectory dir;
    const std::string source = dir.path + "/source.log";
    write_all(source, std::string(100'000, 'x') + "end\n");
    const std::string destination = dir.path + "/a/b/c/copy.log";
    CHECK(pyhost::storage::copy_file_atomically(source, destination).empty());
    CHECK(read_all(destination) == read_all(source));
    CHECK(std::filesystem::directory_iterator(dir.path + "/a/b/c")->path().filename() == "copy.log");  // no leftover
    const std::string error = pyhost::storage::copy_file_atomically(dir.path + "/missing", destination);
    CHECK(error.find("cannot read " + dir.path + "/missing: No such file or directory") != std::string::npos);
    write_all(dir.path + "/blocker", "");
    CHECK(pyhost::storage::copy_file_atomically(source, dir.path + "/blocker/x.log").find("cannot create") == 0);
}

TEST_CASE("removing a tree removes links, never what they point to") {
    TemporaryDirectory dir;
    const std::string outside = dir.path + "/outside";
    std::filesystem::create_directories(outside);
    write_all(outside + "/keep.txt", "keep\n");
    const std::string tree = dir.path + "/tree";
    std::filesystem::create_directories(tree + "/sub");
    write_all(tree + "/sub/file.txt", "x");
    std::filesystem::create_directory_symlink(outside, tree + "/link");
    CHECK(pyhost::storage::remove_tree(tree).empty());
    CHECK_FALSE(std::filesystem::exists(tree));
    CHECK(read_all(outside + "/keep.txt") == "keep\n");
}

TEST_CASE("a spooled log is locked while its run lives, saved once, then removed") {
    using namespace pyhost::storage;
    TemporaryDirectory dir;
    const std::string spool = dir.path + "/spool";
    const std::string target = dir.path + "/logs/2026/12/02/r_f";
    {
        SpooledLog log = SpooledLog::create(spool, "r_f", Driver::local, target);
        CHECK(log.journal() == spool + "/r_f.jsonl");
        CHECK(log.text_log() == spool + "/r_f.log");
        write_all(log.journal(), "{\"seq\":1}\n");
        write_all(log.text_log(), "hello\n");
        // A live run holds its marker: replay does not take it.
        CHECK(SpooledLog::pending(spool).empty());
        REQUIRE_THROWS_WITH(SpooledLog::create(spool, "r_f", Driver::local, target),
                            Catch::Contains("(a run with this runtime id exists)"));
    }
    // The run's process is gone (its lock with it): replay finds the log and saves it.
    std::vector<SpooledLog> pending = SpooledLog::pending(spool);
    REQUIRE(pending.size() == 1);
    SpooledLog& log = pending.front();
    CHECK(log.target() == target);
    CHECK_FALSE(log.saved());
    CHECK(log.save().empty());
    CHECK(log.saved());
    CHECK(read_all(target + ".jsonl") == "{\"seq\":1}\n");
    CHECK(read_all(target + ".log") == "hello\n");
    CHECK(log.save().empty());  // recorded in the marker: not copied again
    log.remove();
    CHECK(std::filesystem::is_empty(spool));
}

TEST_CASE("the logs' location and driver come from STORAGE_DRIVER and LOGS_LOCATION") {
    using namespace pyhost::storage;
    ::unsetenv("STORAGE_DRIVER");
    ::setenv("LOGS_LOCATION", "/var/log/executor//", 1);
    LogsLocation location = LogsLocation::from_environment();
    CHECK((location.driver == Driver::local && location.location == "/var/log/executor"));
    ::setenv("STORAGE_DRIVER", "s3", 1);
    REQUIRE_THROWS_WITH(LogsLocation::from_environment(),
                        "STORAGE_DRIVER=s3 needs LOGS_LOCATION=s3://BUCKET[/PREFIX], not /var/log/executor");
    ::setenv("STORAGE_DRIVER", "local", 1);
    ::setenv("LOGS_LOCATION", "s3://bucket/logs", 1);
    REQUIRE_THROWS_WITH(LogsLocation::from_environment(), Catch::Contains("is an S3 URL but STORAGE_DRIVER=local"));
    ::unsetenv("LOGS_LOCATION");
    ::unsetenv("STORAGE_DRIVER");
    CHECK(LogsLocation::from_environment().location == "/tmp/executor_logs");
}
