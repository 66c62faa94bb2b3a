#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/block_reserve.hpp"
#include "capture/entry_ring.hpp"
#include "capture/journal_writer.hpp"
#include "capture/json_text.hpp"
#include "scratch_files.hpp"

using pyhost::capture::EntryRing;
namespace json = pyhost::capture::json;

TEST_CASE("JSON strings: escapes, valid UTF-8 kept, invalid bytes as lone surrogates") {
    std::string out;
    json::append_string(out, "a\"b\\c\n\t\x01 é ✓");
    CHECK(out == "\"a\\\"b\\\\c\\n\\t\\u0001 é ✓\"");
    out.clear();
    json::append_string(out, std::string_view("x\xff\xc3(y", 5));
    CHECK(out == "\"x\\udcff\\udcc3(y\"");
    out.clear();
    json::append_string(out, std::string_view("\xed\xa0\x80", 3));  // an encoded surrogate is not UTF-8
    CHECK(out == "\"\\udced\\udca0\\udc80\"");
}

TEST_CASE("JSON strings: the sixteen-byte scan finds every special byte at every offset") {
    const std::string specials[] = {"\"", "\\", "\n", "\x01", "\x1f", "\x7f", "\xff", "\xc3\xa9", "\xe2\x9c\x93", "\xf0\x9f\x98\x80", "\xed\xa0\x80", " ", "~"};
    for (const std::string& special : specials) {
        // Past two blocks and their tails, and past the 256 bytes above which append_string
        // writes into the string itself rather than through the stack.
        for (std::size_t length : {0UL, 1UL, 7UL, 8UL, 14UL, 15UL, 16UL, 17UL, 30UL, 31UL, 32UL, 33UL, 40UL, 255UL, 256UL, 300UL}) {
            for (std::size_t at = 0; at <= length; at += length > 40 ? 13 : 1) {
                // Amid plain ASCII a special sequence is escaped as it is alone (at most four
                // bytes: one block's tail).
                std::string alone;
                json::append_string(alone, special);
                std::string expected = alone.substr(0, 1) + std::string(at, 'a');
                expected.append(alone, 1, alone.size() - 2);
                expected.append(length - at, 'b');
                expected += '"';
                const std::string text = std::string(at, 'a') + special + std::string(length - at, 'b');
                std::string out;
                json::append_string(out, text);
                INFO("special byte(s) at " << at << " of " << text.size());
                CHECK(out == expected);
                json::TextBuffer buffer(4);  // grows as it must
                buffer += '[';
                buffer.append_quoted(text);
                CHECK(buffer.view() == "[" + expected);
            }
        }
    }
}

TEST_CASE("JSON strings: written within quoted_bound(), reading only the text") {
    // The text sits at the very end of its allocation (as a line may end where the ring's
    // storage does: ASan reports any read past it), and the output gets exactly the room
    // quoted_bound() promises, with a guard after it.
    for (const std::string_view piece : {std::string_view("a"), std::string_view("\x01"), std::string_view("\xff"), std::string_view("\xc3\xa9")}) {
        for (std::size_t length = 0; length <= 40; ++length) {
            std::string text;
            while (text.size() < length) {
                text.append(piece.substr(0, std::min(piece.size(), length - text.size())));
            }
            const auto input = std::make_unique<char[]>(length);
            std::memcpy(input.get(), text.data(), length);
            const std::size_t room = json::quoted_bound(length);
            std::vector<char> output(room + 64, '#');
            char* end = json::write_string(output.data(), std::string_view(input.get(), length));
            INFO(length << " bytes of " << piece.size() << "-byte pieces");
            CHECK(static_cast<std::size_t>(end - output.data()) <= room);
            CHECK(std::all_of(output.begin() + static_cast<std::ptrdiff_t>(room), output.end(), [](char c) { return c == '#'; }));
            std::string expected;
            json::append_string(expected, text);
            CHECK(std::string_view(output.data(), static_cast<std::size_t>(end - output.data())) == expected);
        }
    }
}

TEST_CASE("copy_padded: exact bytes up to n, whole blocks read and written") {
    for (std::size_t n = 0; n <= 70; ++n) {
        std::string text(n, 'x');
        for (std::size_t i = 0; i < n; ++i) {
            text[i] = static_cast<char>('a' + i % 26);
        }
        const json::PaddedText padded(text);
        CHECK(padded.view() == text);
        std::vector<char> out(json::padded_size(n) + 8, '#');
        char* end = json::copy_padded(out.data(), padded.data(), padded.size());
        CHECK(end == out.data() + n);
        CHECK(std::string_view(out.data(), n) == text);
        CHECK(std::all_of(out.end() - 8, out.end(), [](char c) { return c == '#'; }));
    }
}

TEST_CASE("timestamps: UTC with microseconds, cached per second") {
    std::string out;
    json::append_timestamp(out, 1'700'000'000'123'456LL);
    CHECK(out == "\"2023-11-14T22:13:20.123456Z\"");
    json::TimestampFormatter formatter;
    std::string a, b, c;
    formatter.append(a, 1'700'000'000'000'001LL);
    formatter.append(b, 1'700'000'000'999'999LL);
    formatter.append(c, 1'700'000'001'000'000LL);
    CHECK(a == "\"2023-11-14T22:13:20.000001Z\"");
    CHECK(b == "\"2023-11-14T22:13:20.999999Z\"");
    CHECK(c == "\"2023-11-14T22:13:21.000000Z\"");
}

TEST_CASE("the ring hands entries over in order, across wrap-around, from many producers") {
    EntryRing ring(64 << 10);
    constexpr int producers = 4;
    constexpr int per_producer = 20000;
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&ring, p] {
            for (int i = 0; i < per_producer; ++i) {
                const std::string payload = std::to_string(p) + ":" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 97), 'x');
                EntryRing::Reservation reservation;
                while (!ring.try_reserve(static_cast<std::uint32_t>(payload.size()), reservation)) {
                    std::this_thread::yield();
                }
                std::memcpy(reservation.payload, payload.data(), payload.size());
                ring.commit(reservation, 1);
            }
        });
    }
    std::vector<int> next(producers, 0);
    int seen = 0;
    while (seen < producers * per_producer) {
        seen += static_cast<int>(ring.consume([&](const EntryRing::Entry& entry) {
            const std::string text(reinterpret_cast<const char*>(entry.payload.data()), entry.payload.size());
            const int p = std::stoi(text.substr(0, text.find(':')));
            const int i = std::stoi(text.substr(text.find(':') + 1));
            CHECK(i == next[static_cast<std::size_t>(p)]);  // per-producer order kept
            CHECK(text.size() == text.find(':') + 1 + std::to_string(i).size() + static_cast<std::size_t>(i % 97));
            next[static_cast<std::size_t>(p)] = i + 1;
        }));
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    CHECK(ring.empty());
}

TEST_CASE("a full ring refuses a reservation instead of blocking") {
    EntryRing ring(64 << 10);
    EntryRing::Reservation reservation;
    int accepted = 0;
    while (ring.try_reserve(1000, reservation)) {
        ring.commit(reservation, 1);
        ++accepted;
    }
    CHECK(accepted > 50);
    CHECK(accepted < 70);
    CHECK_FALSE(ring.try_reserve(static_cast<std::uint32_t>(ring.max_payload() + 1), reservation));
}

namespace {
std::uint64_t g_observed_records = 0;
std::uint64_t g_observed_bytes = 0;
int g_observations = 0;
void observe(std::uint64_t records, std::uint64_t bytes) noexcept {
    g_observed_records = records;
    g_observed_bytes = bytes;
    ++g_observations;
}
}  // namespace

TEST_CASE("the journal's observer hears of every write: records and bytes in the file so far") {
    pyhost::testing::TemporaryDirectory directory;
    const std::string path = directory.path + "/run.jsonl";
    pyhost::capture::JournalWriter writer(path, "", "run-1", 1);
    writer.set_observer(observe);
    writer.note("INFO", "one", 1'000'000);
    writer.note("INFO", "two", 2'000'000);
    CHECK(g_observations == 0);  // buffered, not in the file yet
    writer.flush(true);
    CHECK(g_observations == 1);
    CHECK(g_observed_records == 2);
    CHECK(g_observed_bytes == pyhost::testing::read_all(path).size());
    writer.note("INFO", "three", 3'000'000);
    writer.flush(true);
    CHECK(g_observations == 2);
    CHECK(g_observed_records == 3);  // counted from the start, not per write
    CHECK(g_observed_bytes == pyhost::testing::read_all(path).size());
    writer.flush(true);  // nothing to write: nothing to tell
    CHECK(g_observations == 2);
}

namespace {
// Hands `bytes` to the writer as a stream entry from `pid`'s stdout.
void write_stdout(pyhost::capture::JournalWriter& writer, std::int32_t pid, std::string_view bytes) {
    pyhost::capture::Prelude prelude{};
    prelude.ts_micros = 1'000'000;
    prelude.pid = pid;
    prelude.stream = pyhost::capture::Stream::stdout_;
    prelude.fd = 1;
    std::vector<std::byte> payload(sizeof prelude + bytes.size());
    std::memcpy(payload.data(), &prelude, sizeof prelude);
    std::memcpy(payload.data() + sizeof prelude, bytes.data(), bytes.size());
    writer.handle({static_cast<std::uint8_t>(pyhost::capture::EntryKind::stream), payload});
}

// The "message" of each record in the journal at `path`, in order (messages without quotes
// or escapes: what these tests write).
std::vector<std::string> journal_messages(const std::string& path) {
    const std::string journal = pyhost::testing::read_all(path);
    std::vector<std::string> messages;
    for (std::size_t at = journal.find("\"message\":\""); at != std::string::npos;
         at = journal.find("\"message\":\"", at + 1)) {
        const std::size_t start = at + 11;
        messages.push_back(journal.substr(start, journal.find('"', start) - start));
    }
    return messages;
}
}  // namespace

TEST_CASE("lines are split at every newline, whatever their length and place in a chunk") {
    // Each chunk ends where its allocation does: AddressSanitizer reports any read past it by
    // the sixteen-byte newline search.
    pyhost::testing::TemporaryDirectory directory;
    const std::string path = directory.path + "/run.jsonl";
    std::vector<std::string> expected;
    {
        pyhost::capture::JournalWriter writer(path, "", "run-1", 1);
        std::string chunk;
        for (std::size_t k = 0; k <= 40; ++k) {
            const std::string line(k, static_cast<char>('a' + k % 26));
            chunk += line + "\n";
            expected.push_back(line);
        }
        write_stdout(writer, 1, chunk);
        for (std::size_t k = 0; k <= 40; ++k) {
            const std::string line(k, 'x');
            write_stdout(writer, 1, line + "\n");
            expected.push_back(line);
        }
        write_stdout(writer, 1, "a last line without its newline");
        expected.emplace_back("a last line without its newline");
        writer.flush_partial_lines();
        writer.flush(true);
    }
    const std::vector<std::string> messages = journal_messages(path);
    CHECK(messages == expected);
}

TEST_CASE("a line written in pieces stays one record, however many processes have written lines") {
    // A pool of forked workers: each (pid, stream) once had a line of its own, and a line's
    // slot must come free when the line ends, or the ninth process's lines come out cut.
    pyhost::testing::TemporaryDirectory directory;
    const std::string path = directory.path + "/run.jsonl";
    {
        pyhost::capture::JournalWriter writer(path, "", "run-1", 1);
        for (std::int32_t pid = 100; pid < 120; ++pid) {
            const std::string number = std::to_string(pid);
            write_stdout(writer, pid, "worker " + number);
            write_stdout(writer, pid, " done\n");
        }
        // Two lines open at once in two processes still interleave correctly.
        write_stdout(writer, 200, "first ");
        write_stdout(writer, 201, "second ");
        write_stdout(writer, 200, "half\n");
        write_stdout(writer, 201, "half\n");
        writer.flush(true);
    }
    const std::vector<std::string> messages = journal_messages(path);
    REQUIRE(messages.size() == 22);
    for (std::int32_t pid = 100; pid < 120; ++pid) {
        CHECK(messages[static_cast<std::size_t>(pid - 100)] == "worker " + std::to_string(pid) + " done");
    }
    CHECK(messages[20] == "first half");
    CHECK(messages[21] == "second half");
}

TEST_CASE("more lines open at once than slots: the extra pieces are records of their own, marked continued") {
    pyhost::testing::TemporaryDirectory directory;
    const std::string path = directory.path + "/run.jsonl";
    {
        pyhost::capture::JournalWriter writer(path, "", "run-1", 1);
        for (std::int32_t pid = 300; pid < 310; ++pid) {  // ten open lines, eight slots
            write_stdout(writer, pid, "open " + std::to_string(pid));
        }
        for (std::int32_t pid = 300; pid < 310; ++pid) {
            write_stdout(writer, pid, " closed\n");
        }
        writer.flush(true);
    }
    std::vector<std::string> lines;
    const std::string journal = pyhost::testing::read_all(path);
    for (std::size_t at = 0, end; (end = journal.find('\n', at)) != std::string::npos; at = end + 1) {
        lines.push_back(journal.substr(at, end - at));
    }
    // The two without a slot come out at once, cut and marked; then the rest, in order.
    REQUIRE(lines.size() == 12);
    CHECK(lines[0].find("\"message\":\"open 308\",\"continued\":true") != std::string::npos);
    CHECK(lines[1].find("\"message\":\"open 309\",\"continued\":true") != std::string::npos);
    for (std::int32_t pid = 300; pid < 308; ++pid) {
        const std::string& line = lines[static_cast<std::size_t>(2 + pid - 300)];
        CHECK(line.find("\"message\":\"open " + std::to_string(pid) + " closed\"}") != std::string::npos);
    }
    // The rest of the cut lines, each with its process, ending them.
    for (std::size_t k : {std::size_t{0}, std::size_t{1}}) {
        const std::string pid = "\"pid\":" + std::to_string(308 + k);
        CHECK(lines[k].find(pid) != std::string::npos);
        CHECK(lines[10 + k].find(pid) != std::string::npos);
        CHECK(lines[10 + k].find("\"message\":\" closed\"}") != std::string::npos);
    }
}

namespace {

// Bytes allocated to a file on disk (what `du` counts).
std::uint64_t allocated_bytes(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

// Whether this file system reserves blocks past the end of a file (ext4, xfs, tmpfs do).
bool reserves_past_end(const std::string& directory) {
    const std::string probe = directory + "/probe";
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    REQUIRE(fd >= 0);
    const bool supported = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20) == 0;
    ::close(fd);
    ::unlink(probe.c_str());
    return supported;
}

}  // namespace

TEST_CASE("Block reserve: a growing file gets blocks ahead of its end, given back at release") {
    pyhost::testing::TemporaryDirectory dir;
    const bool supported = reserves_past_end(dir.path);
    const std::string path = dir.path + "/journal.jsonl";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0644);
    REQUIRE(fd >= 0);
    pyhost::capture::BlockReserve reserve(64 * 1024, 256 * 1024);
    reserve.attach(fd);
    const std::string chunk(10000, 'x');
    const auto append = [&] {
        reserve.before_append(chunk.size());
        REQUIRE(::write(fd, chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size()));
        reserve.appended(chunk.size());
    };
    for (int i = 0; i < 6; ++i) {
        append();  // 60,000 bytes: below the start, nothing reserved yet
    }
    CHECK(reserve.reserved_end() == 60000);
    append();  // past the start: a step past the new end
    if (supported) {
        CHECK(reserve.reserved_end() == 70000 + 256 * 1024);
        CHECK(allocated_bytes(path) >= 70000 + 256 * 1024);
    } else {
        CHECK(reserve.reserved_end() == 70000);  // refused once: off, writing unchanged
    }
    for (int i = 0; i < 30; ++i) {
        append();  // 370,000 bytes: one more stretch reserved on the way
    }
    CHECK(std::filesystem::file_size(path) == 370000);
    if (supported) {
        CHECK(reserve.reserved_end() >= 370000);
        CHECK(allocated_bytes(path) >= reserve.reserved_end());
    }
    reserve.release();
    CHECK(reserve.reserved_end() == 370000);
    CHECK(std::filesystem::file_size(path) == 370000);
    CHECK(allocated_bytes(path) < 370000 + 64 * 1024);  // what the bytes need, not the stretch
    ::close(fd);
    CHECK(pyhost::testing::read_all(path) == [&] {
        std::string all;
        for (int i = 0; i < 37; ++i) {
            all += chunk;
        }
        return all;
    }());
}

TEST_CASE("Block reserve: a file someone else also appended to is not cut at release") {
    pyhost::testing::TemporaryDirectory dir;
    const std::string path = dir.path + "/shared.jsonl";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0644);
    REQUIRE(fd >= 0);
    pyhost::capture::BlockReserve reserve(0, 128 * 1024);
    reserve.attach(fd);
    reserve.before_append(5);
    REQUIRE(::write(fd, "ours\n", 5) == 5);
    reserve.appended(5);
    pyhost::testing::append(path, "theirs\n");  // another writer, between our appends and the end
    reserve.release();
    CHECK(pyhost::testing::read_all(path) == "ours\ntheirs\n");
    ::close(fd);
}

TEST_CASE("Block reserve: nothing happens for what is not a regular file") {
    pyhost::capture::BlockReserve reserve(0, 4096);
    const int fd = ::open("/dev/null", O_WRONLY);
    REQUIRE(fd >= 0);
    reserve.attach(fd);
    reserve.before_append(100);
    reserve.appended(100);
    CHECK(reserve.reserved_end() == 100);  // nothing past the end
    reserve.release();
    ::close(fd);
}

TEST_CASE("Block reserve: what a killed run left reserved past the end of a file is given back") {
    pyhost::testing::TemporaryDirectory dir;
    const std::string path = dir.path + "/left.jsonl";
    pyhost::testing::write_all(path, std::string(5000, 'z') + "\n");
    if (reserves_past_end(dir.path)) {
        const int fd = ::open(path.c_str(), O_WRONLY);
        REQUIRE(fd >= 0);
        REQUIRE(::fallocate(fd, FALLOC_FL_KEEP_SIZE, 5001, 4 << 20) == 0);  // as a run killed mid-stretch
        ::close(fd);
        CHECK(allocated_bytes(path) > 4 << 20);
    }
    pyhost::capture::release_blocks_past_end(path);
    CHECK(allocated_bytes(path) <= 8192);
    CHECK(pyhost::testing::read_all(path) == std::string(5000, 'z') + "\n");

    // Nothing reserved: nothing written, not even the file's times.
    struct stat before {};
    REQUIRE(::stat(path.c_str(), &before) == 0);
    const timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), old_times, 0) == 0);
    pyhost::capture::release_blocks_past_end(path);
    struct stat after {};
    REQUIRE(::stat(path.c_str(), &after) == 0);
    CHECK(after.st_mtim.tv_sec == 1000000000);
    // A FIFO, a missing file: nothing, and no waiting.
    const std::string fifo = dir.path + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    pyhost::capture::release_blocks_past_end(fifo);
    pyhost::capture::release_blocks_past_end(dir.path + "/missing.jsonl");
}

TEST_CASE("Journal writer: reserves only for files it created, and gives the blocks back") {
    pyhost::testing::TemporaryDirectory dir;
    const std::string existing = dir.path + "/existing.jsonl";
    pyhost::testing::write_all(existing, "");
    const std::string created = dir.path + "/created.jsonl";
    const std::string line = std::string(200, 'y') + "\n";
    for (const std::string& path : {existing, created}) {
        pyhost::capture::JournalWriter writer(path, "", "run", 1);
        pyhost::capture::Prelude prelude{};
        prelude.pid = 1;
        prelude.stream = pyhost::capture::Stream::stdout_;
        std::string payload(reinterpret_cast<const char*>(&prelude), sizeof prelude);
        for (int i = 0; i < 100; ++i) {
            payload += line;
        }
        // About 4 MiB of journal: past the default start of reserving.
        for (int i = 0; i < 150; ++i) {
            writer.handle(EntryRing::Entry{static_cast<std::uint8_t>(pyhost::capture::EntryKind::stream),
                                           {reinterpret_cast<const std::byte*>(payload.data()), payload.size()}});
        }
        writer.flush(true);
        const std::uint64_t size = std::filesystem::file_size(path);
        CHECK(size > pyhost::capture::BlockReserve::k_default_start);
        if (path == existing || !reserves_past_end(dir.path)) {
            CHECK(allocated_bytes(path) < size + 64 * 1024);
        } else {
            CHECK(allocated_bytes(path) >= size + 1024 * 1024);  // a stretch ahead of the end
        }
        writer.release_reserved_blocks();
        CHECK(allocated_bytes(path) < size + 64 * 1024);
        CHECK(std::filesystem::file_size(path) == size);
    }
}
