#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <zlib.h>
#include <zstd.h>

#include "reporter/cursor_store.hpp"
#include "reporter/encoders.hpp"
#include "reporter/http_client.hpp"
#include "reporter/journal_tail.hpp"
#include "reporter/sink.hpp"
#include "scratch_files.hpp"

using namespace pyhost::reporter;

namespace {

std::string gunzip(const std::string& data) {
    z_stream stream{};
    REQUIRE(inflateInit2(&stream, 15 + 16) == Z_OK);
    std::string out(1 << 20, '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream.avail_in = static_cast<uInt>(data.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    REQUIRE(inflate(&stream, Z_FINISH) == Z_STREAM_END);
    out.resize(stream.total_out);
    inflateEnd(&stream);
    return out;
}

std::string unzstd(const std::string& data) {
    const unsigned long long size = ZSTD_getFrameContentSize(data.data(), data.size());
    REQUIRE(size != ZSTD_CONTENTSIZE_ERROR);
    REQUIRE(size != ZSTD_CONTENTSIZE_UNKNOWN);  // the frame states its size: receivers can size their buffer
    std::string out(size, '\0');
    const std::size_t got = ZSTD_decompress(out.data(), out.size(), data.data(), data.size());
    REQUIRE_FALSE(ZSTD_isError(got));
    out.resize(got);
    return out;
}

}  // namespace

TEST_CASE("sink URLs name their kind, endpoint and credentials") {
    const Sink jsonl = parse_sink("jsonl+https://user:pass@collector.example:8443/ingest?x=1");
    CHECK(jsonl.kind == SinkKind::jsonl);
    CHECK(jsonl.endpoint == "https://collector.example:8443/ingest?x=1");
    CHECK(jsonl.authorization == "Basic dXNlcjpwYXNz");
    CHECK(jsonl.redacted == "jsonl+https://***@collector.example:8443/ingest?***");

    const Sink loki = parse_sink("loki+http://loki:3100");
    CHECK(loki.endpoint == "http://loki:3100/loki/api/v1/push");
    CHECK(loki.authorization.empty());

    const Sink otlp = parse_sink("otlp+http://:tok@otel:4318/prefix/");
    CHECK(otlp.endpoint == "http://otel:4318/prefix/v1/logs");
    CHECK(otlp.authorization == "Bearer tok");
    CHECK(otlp.id.find("tok") == std::string::npos);
}

TEST_CASE("a bad sink is an error naming it, without its secret") {
    REQUIRE_THROWS_WITH(parse_sink("kafka+http://u:secret@h/"), Catch::Contains("unknown kind 'kafka'"));
    REQUIRE_THROWS_WITH(parse_sink("jsonl+ftp://h/"), Catch::Contains("transport must be http or https"));
    REQUIRE_THROWS_WITH(parse_sink("http://h/"), Catch::Contains("the scheme must say the kind"));
    try {
        parse_sink("kafka+http://u:secret@h/");
    } catch (const SinkError& error) {
        CHECK(std::string(error.what()).find("secret") == std::string::npos);
    }
    CHECK(parse_sink_list(" jsonl+http://a/x , loki+http://b ").size() == 2);
}

TEST_CASE("Retry-After: delay-seconds and HTTP-dates") {
    using namespace std::chrono;
    const auto now = system_clock::from_time_t(1'700'000'000);
    CHECK(parse_retry_after("3", now) == milliseconds(3000));
    CHECK(parse_retry_after("0.5", now) == milliseconds(500));
    CHECK(parse_retry_after("", now) == milliseconds(-1));
    CHECK(parse_retry_after("soon", now) == milliseconds(-1));
    // 1,700,000,010 s since the epoch is Tue, 14 Nov 2023 22:13:30 GMT.
    CHECK(parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now) == milliseconds(10'000));
    CHECK(parse_retry_after("Tue, 14 Nov 2023 22:13:00 GMT", now) == milliseconds(0));
    CHECK(parse_retry_after("Tuesday, 14-Nov-23 22:13:30 GMT", now) == milliseconds(10'000));
    CHECK(parse_retry_after("Tue Nov 14 22:13:30 2023", now) == milliseconds(10'000));
}

TEST_CASE("HTTP-dates in all three forms, read without the locale") {
    using namespace std::chrono;
    const auto now = system_clock::from_time_t(1'700'000'000);  // 2023
    // RFC 9110's own example, 784111777 s since the epoch, in each form.
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", now) == 784111777);
    CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now) == 784111777);
    CHECK(parse_http_date("Sun Nov  6 08:49:37 1994", now) == 784111777);
    CHECK(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", now) == 0);
    CHECK(parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT", now) == 1709208000);
    // rfc850's two-digit year: this century unless that is more than 50 years ahead.
    CHECK(parse_http_date("Wednesday, 01-Jan-70 00:00:00 GMT", now) == 3155760000);  // 2070: 47 years ahead
    CHECK(parse_http_date("Tuesday, 01-Jan-74 00:00:00 GMT", now) == 126230400);     // 2074 would be 51: 1974
    CHECK(parse_http_date("Saturday, 01-Jan-22 00:00:00 GMT", now) == 1640995200);   // 2022
    for (const char* bad : {"", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 nov 1994 08:49:37 GMT",
                            "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT",
                            "Sun, 06 Nov 1994 08:49 GMT", "Sun, 0x Nov 1994 08:49:37 GMT", "Sun, -6 Nov 1994 08:49:37 GMT",
                            "So, 06 Nov. 1994 08:49:37 GMT", "Sun Nov  6 08:49:37 94", "1994-11-06T08:49:37Z"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_http_date(bad, now).has_value());
    }
}

TEST_CASE("byte buffers: grown without touching the new bytes, keeping those asked for") {
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    // Pages of [data, data + size) that are resident: those something wrote to.
    const auto resident_pages = [&](const pyhost::ByteBuffer& buffer) {
        const auto first = reinterpret_cast<std::uintptr_t>(buffer.data()) / page * page;
        const auto last = reinterpret_cast<std::uintptr_t>(buffer.data()) + buffer.size();
        std::vector<unsigned char> pages((last - first + page - 1) / page);
        REQUIRE(::mincore(reinterpret_cast<void*>(first), last - first, pages.data()) == 0);
        return std::count_if(pages.begin(), pages.end(), [](unsigned char p) { return (p & 1) != 0; });
    };
    pyhost::ByteBuffer buffer;
    buffer.grow(100, 0);
    std::memcpy(buffer.data(), "kept", 4);
    buffer.grow(std::size_t{8} << 20, 4);  // what a batch's compression bound asks for
    CHECK(buffer.size() == (std::size_t{8} << 20));
    CHECK(std::string_view(buffer.data(), 4) == "kept");
    // A std::string resized so would have written zeros to all 2,048 pages.
    CHECK(resident_pages(buffer) <= 2);
    buffer.grow(10, 0);  // never shrinks
    CHECK(buffer.size() == (std::size_t{8} << 20));

    pyhost::ByteBuffer huge(pyhost::ByteBuffer::Pages::huge);
    huge.grow((std::size_t{3} << 20) + 1, 0);
    CHECK(huge.size() == (std::size_t{4} << 20));  // whole huge pages
    CHECK(reinterpret_cast<std::uintptr_t>(huge.data()) % (std::size_t{2} << 20) == 0);
}

TEST_CASE("gzip bodies inflate back to the original") {
    std::string text;
    for (int i = 0; i < 10000; ++i) {
        text += "{\"seq\":" + std::to_string(i) + ",\"message\":\"line\"}\n";
    }
    const std::string packed = gzip(text);
    CHECK(packed.size() < text.size() / 4);
    CHECK(gunzip(packed) == text);
}

TEST_CASE("gzip into a reused buffer: each result inflates back, the buffer only grows") {
    pyhost::ByteBuffer buffer;
    const std::string big(200000, 'x');
    const std::size_t big_size = gzip_into(big, buffer);
    REQUIRE(big_size > 0);
    CHECK(gunzip(std::string(buffer.data(), big_size)) == big);
    const std::size_t capacity = buffer.size();
    const std::string small = "{\"seq\":1}\n";
    const std::size_t small_size = gzip_into(small, buffer);
    REQUIRE(small_size > 0);
    CHECK(gunzip(std::string(buffer.data(), small_size)) == small);
    CHECK(buffer.size() == capacity);
}

TEST_CASE("zstd bodies decompress back to the original, into a reused buffer") {
    std::string text;
    for (int i = 0; i < 10000; ++i) {
        text += "{\"seq\":" + std::to_string(i) + ",\"message\":\"line\"}\n";
    }
    pyhost::ByteBuffer buffer;
    const std::size_t big_size = zstd_into(text, buffer);
    REQUIRE(big_size > 0);
    CHECK(big_size < text.size() / 4);
    const std::string big(buffer.data(), big_size);
    CHECK(unzstd(big) == text);
    // The frame says how big the text is (a receiver allocates once), and a body cut short is
    // an error, not shorter text. No content checksum: TCP and TLS carry it (see zstd_into).
    CHECK(ZSTD_getFrameContentSize(big.data(), big.size()) == text.size());
    std::string out(text.size(), '\0');
    CHECK(ZSTD_isError(ZSTD_decompress(out.data(), out.size(), big.data(), big.size() - 3)));
    const std::size_t capacity = buffer.size();
    const std::size_t small_size = zstd_into("{\"seq\":1}\n", buffer);
    REQUIRE(small_size > 0);
    CHECK(unzstd(std::string(buffer.data(), small_size)) == "{\"seq\":1}\n");
    CHECK(buffer.size() == capacity);
}

TEST_CASE("codings: pyhost's protocol starts at zstd, Loki and OTLP at gzip; a 415 steps down as the receiver says") {
    using C = ContentCoding;
    const auto jsonl = offered_codings(SinkKind::jsonl);
    CHECK(jsonl == std::vector<C>{C::zstd, C::gzip, C::identity});
    CHECK(offered_codings(SinkKind::loki) == std::vector<C>{C::gzip, C::identity});
    CHECK(offered_codings(SinkKind::otlp) == std::vector<C>{C::gzip, C::identity});
    // No Accept-Encoding in the 415: the next one down.
    CHECK(next_coding(jsonl, C::zstd, std::nullopt) == C::gzip);
    CHECK(next_coding(jsonl, C::gzip, std::nullopt) == C::identity);
    CHECK(next_coding(jsonl, C::identity, std::nullopt) == std::nullopt);
    // RFC 7694: the receiver lists what it takes.
    CHECK(next_coding(jsonl, C::zstd, "gzip") == C::gzip);
    CHECK(next_coding(jsonl, C::zstd, " GZip ;q=0.5, br") == C::gzip);
    CHECK(next_coding(jsonl, C::zstd, "br") == C::identity);        // identity unless refused
    CHECK(next_coding(jsonl, C::zstd, "") == C::identity);          // empty: only identity
    CHECK(next_coding(jsonl, C::zstd, "identity") == C::identity);
    CHECK(next_coding(jsonl, C::zstd, "*") == C::gzip);
    CHECK(next_coding(jsonl, C::zstd, "gzip;q=0, *") == C::identity);
    CHECK(next_coding(jsonl, C::zstd, "br, identity;q=0") == std::nullopt);
    CHECK(next_coding(jsonl, C::zstd, "*;q=0") == std::nullopt);
    CHECK(next_coding(jsonl, C::zstd, "gzip; Q = 0.000") == C::identity);
    CHECK(next_coding(jsonl, C::zstd, "gzip;q=0.001") == C::gzip);
    CHECK(next_coding(jsonl, C::zstd, "gzip;q=1") == C::gzip);
    CHECK(next_coding(jsonl, C::gzip, "zstd") == C::identity);      // never back up the list
    CHECK(coding_name(C::zstd) == "zstd");
    CHECK(coding_name(C::gzip) == "gzip");
    CHECK(coding_name(C::identity) == "identity");
}

TEST_CASE("a batch holds complete lines only, and its text is theirs with their newlines") {
    const Batch batch = batch_of_text("{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3", 100);
    REQUIRE(batch.records == 2);
    CHECK(std::vector<std::string_view>(batch.lines().begin(), batch.lines().end()) ==
          std::vector<std::string_view>{"{\"seq\":1}", "{\"seq\":2}"});
    CHECK((batch.begin == 100 && batch.end == 120));
    CHECK(batch.text() == "{\"seq\":1}\n{\"seq\":2}\n");
    CHECK(batch_of_text("a\nb\nc\n", 0, 2).text() == "a\nb\n");
    // Empty lines are lines; a last line without its newline (not in a batch) is one too.
    const Lines lines("a\n\nb");
    CHECK(std::vector<std::string_view>(lines.begin(), lines.end()) == std::vector<std::string_view>{"a", "", "b"});
    CHECK(Lines("").begin() == Lines("").end());
}

TEST_CASE("a batch's record limit falls on the right line, in and across the scan's chunks") {
    // Lines of 1 to 37 bytes, so that newlines fall at every position of a 16-byte block and
    // blocks hold from none to many of them, over several 4080-byte chunks; every record
    // limit is checked against a plain count.
    std::string text;
    std::vector<std::size_t> ends;  // offset after each newline
    for (std::size_t i = 0; i < 1000; ++i) {
        text.append((i * 7) % 37, 'x');
        text += '\n';
        ends.push_back(text.size());
    }
    for (std::size_t max = 1; max <= ends.size() + 2; ++max) {
        const Batch batch = batch_of_text(text, 0, max);
        const std::size_t expected = std::min(max, ends.size());
        REQUIRE(batch.records == expected);
        REQUIRE(batch.end == ends[expected - 1]);
    }
}

TEST_CASE("a journal is read batch by batch, each byte once, and a torn last line is read again") {
    pyhost::testing::TemporaryDirectory directory;
    const std::string path = directory.path + "/run.jsonl";
    pyhost::testing::write_all(path, "a1\nb22\nc333\nd4");  // d4: a line still being written
    JournalTail tail(path);
    Batch batch;
    REQUIRE(tail.read(0, 2, 1 << 20, batch));
    CHECK(batch.text() == "a1\nb22\n");
    CHECK((batch.begin == 0 && batch.end == 7));

    // The rest of what was read first is used without reading it again. Shown by changing a
    // complete line in the file, which a journal never does: the batch still has the old one.
    pyhost::testing::write_all(path, "a1\nb22\nC333\nd4");
    REQUIRE(tail.read(batch.end, 2, 1 << 20, batch));
    CHECK(batch.text() == "c333\n");

    // The torn line is cut and the final status written in its place, as a supervisor does.
    REQUIRE(::truncate(path.c_str(), 12) == 0);
    pyhost::testing::append(path, "{\"final\":1}\n");
    REQUIRE(tail.read(batch.end, 2, 1 << 20, batch));
    CHECK(batch.text() == "{\"final\":1}\n");
    CHECK(batch.records == 1);
    CHECK_FALSE(tail.read(batch.end, 2, 1 << 20, batch));

    // Appended later: found where the last batch ended.
    pyhost::testing::append(path, "e5\nf6\n");
    REQUIRE(tail.read(batch.end, 10, 1 << 20, batch));
    CHECK(batch.text() == "e5\nf6\n");
}

TEST_CASE("a batch that is not full is taken again as the journal grows, and counted on") {
    // A shipper waiting for its batch to fill reads from the same line again and again; the
    // lines it counted before are carried over, and every look agrees with a fresh count.
    pyhost::testing::TemporaryDirectory directory;
    const std::string path = directory.path + "/run.jsonl";
    pyhost::testing::write_all(path, "");
    JournalTail tail(path);
    Batch batch;
    std::string written;
    for (int i = 0; i < 12; ++i) {
        const std::string line = "line " + std::to_string(i) + "\n";
        pyhost::testing::append(path, line.substr(0, 3));  // torn: not a line yet
        const bool any = tail.read(0, 8, 1 << 20, batch);
        CHECK(any == !written.empty());
        pyhost::testing::append(path, line.substr(3));
        written += line;
        REQUIRE(tail.read(0, 8, 1 << 20, batch));
        const Batch fresh = batch_of_text(written, 0, 8);
        REQUIRE(batch.records == fresh.records);
        REQUIRE(batch.end == fresh.end);
        CHECK(batch.text() == fresh.text());
    }
    // Fewer records asked of the same line than were counted: counted again, to the limit.
    REQUIRE(tail.read(0, 3, 1 << 20, batch));
    CHECK(batch.text() == "line 0\nline 1\nline 2\n");
    // A byte limit short of what was counted: the same.
    REQUIRE(tail.read(0, 8, 10, batch));
    CHECK(batch.text() == "line 0\n");
    CHECK(batch.records == 1);
}

TEST_CASE("a batch stops at its byte limit, and a longer line is read whole") {
    pyhost::testing::TemporaryDirectory directory;
    const std::string path = directory.path + "/run.jsonl";
    const std::string long_line = std::string(100, 'x') + "\n";
    pyhost::testing::write_all(path, "1234\n5678\n" + long_line + "9\n");
    JournalTail tail(path);
    Batch batch;
    REQUIRE(tail.read(0, 100, 12, batch));
    CHECK(batch.text() == "1234\n5678\n");  // a third line would pass 12 bytes
    REQUIRE(tail.read(batch.end, 100, 12, batch));
    CHECK(batch.text() == long_line);  // alone, longer than the limit, whole
    REQUIRE(tail.read(batch.end, 100, 12, batch));
    CHECK(batch.text() == "9\n");
    // Anywhere else than where the last batch ended: read afresh.
    REQUIRE(tail.read(5, 1, 12, batch));
    CHECK(batch.text() == "5678\n");
}

TEST_CASE("a batch taken by bytes alone is not counted, ends where a counted one would, and counts on demand") {
    using pyhost::reporter::k_uncounted;
    pyhost::testing::TemporaryDirectory directory;
    const std::string path = directory.path + "/run.jsonl";
    const std::string long_line = std::string(100, 'x') + "\n";
    pyhost::testing::write_all(path, "1234\n5678\n" + long_line + "9\n" + "torn");
    JournalTail tail(path);
    Batch batch;
    REQUIRE(tail.read(0, k_uncounted, 12, batch));
    CHECK(batch.text() == "1234\n5678\n");
    CHECK(batch.records == k_uncounted);
    CHECK(batch.count_records() == 2);
    REQUIRE(tail.read(batch.end, k_uncounted, 12, batch));
    CHECK(batch.text() == long_line);  // alone, longer than the limit, whole
    REQUIRE(tail.read(batch.end, k_uncounted, 1 << 20, batch));
    CHECK(batch.text() == "9\n");  // the torn line is not part of it
    CHECK(batch.count_records() == 1);
    CHECK_FALSE(tail.read(batch.end, k_uncounted, 1 << 20, batch));
    CHECK(batch.empty());

    // Growing while it waits to fill, it is taken again from the same line, and always ends at
    // the last complete line within the limit, as a counted batch with no record limit does.
    pyhost::testing::write_all(path, "");
    JournalTail growing(path);
    Batch uncounted;
    std::string written;
    for (std::size_t i = 0; i < 40; ++i) {
        written += "line " + std::to_string(i) + "\n";
        pyhost::testing::append(path, "line " + std::to_string(i) + "\n");
        REQUIRE(growing.read(0, k_uncounted, 64, uncounted));
        const Batch counted = batch_of_text(written.substr(0, 64 + 1), 0);
        REQUIRE(uncounted.text() == std::string_view(written).substr(0, std::min<std::size_t>(written.size(), counted.end)));
        REQUIRE(uncounted.count_records() == std::min<std::size_t>(i + 1, counted.records));
    }
}

TEST_CASE("the JSON Lines encoder posts the batch's journal text as it is, without a copy") {
    Sink sink;
    sink.kind = SinkKind::jsonl;
    sink.endpoint = "http://c/ingest";
    auto encoder = make_encoder(sink, RunIdentity{"svc", "", ""});
    const Batch batch = batch_of_text("{\"seq\":1}\n{\"seq\":2}\n");
    const auto requests = encoder->encode(batch);
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].payload() == batch.text());
    CHECK(requests[0].payload().data() == batch.buffer.data());
    CHECK(requests[0].compress);
    CHECK(requests[0].content_type == "application/x-ndjson");
}

TEST_CASE("journal timestamps convert to nanoseconds") {
    CHECK(timestamp_nanos("1970-01-01T00:00:01.000002Z") == 1'000'002'000);
    CHECK(timestamp_nanos("2023-11-14T22:13:20.500000Z") == 1'700'000'000'500'000'000LL);
    CHECK(timestamp_nanos("2023-11-14 22:13:20") == -1);
    CHECK(timestamp_nanos("2024-02-29T23:59:60.999999Z") == 1'709'251'200'999'999'000LL);  // a leap second's
    CHECK(timestamp_nanos("2023-13-14T22:13:20.500000Z") == -1);
    CHECK(timestamp_nanos("2023-11-14T24:13:20.500000Z") == -1);
}

TEST_CASE("Splight status words") {
    CHECK(splight_status_word("running") == "Running");
    CHECK(splight_status_word("finished") == "Finished");
    CHECK(splight_status_word("failed") == "Failed");
    CHECK(splight_status_word("timed_out") == "Failed");
    CHECK(splight_status_word("stopped") == "Stopped");
    CHECK(splight_status_word("unknown").empty());
}

TEST_CASE("the Splight encoder posts status changes between the logs around them") {
    Sink sink;
    sink.kind = SinkKind::splight;
    sink.endpoint = "http://e/v4/logs/write";
    sink.splight_host = "http://e";
    sink.splight_api_version = "v4";
    sink.splight_component_id = "c1";
    sink.authorization = "Splight a s";
    const RunIdentity identity{"svc", "c1", ""};
    auto encoder = make_encoder(sink, identity);
    const Batch batch = batch_of_text(
        R"({"seq":1,"ts":"2026-01-01T00:00:00.000000Z","run_id":"r","stream":"status","level":"INFO","logger":null,"message":"running","status":"running"})"
        "\n"
        R"({"seq":2,"ts":"2026-01-01T00:00:00.000001Z","run_id":"r","stream":"stdout","level":"INFO","logger":null,"message":"hi"})"
        "\n"
        R"({"seq":3,"ts":"2026-01-01T00:00:00.000002Z","run_id":"r","stream":"status","level":"INFO","logger":null,"message":"running","status":"running","heartbeat":true})"
        "\n"
        R"({"seq":4,"ts":"2026-01-01T00:00:00.000003Z","run_id":"r","stream":"status","level":"INFO","logger":null,"message":"finished","status":"finished","exit_code":0})"
        "\n");
    REQUIRE(batch.records == 4);
    const auto requests = encoder->encode(batch);
    REQUIRE(requests.size() == 3);
    CHECK(requests[0].url == "http://e/v4/engine/component/components/c1/update-status/");
    CHECK(requests[0].body == "deployment_status=Running");
    CHECK(requests[1].url == "http://e/v4/logs/write");
    CHECK(requests[1].body.find(R"("name":"stdout","message":"hi")") != std::string::npos);
    CHECK_FALSE(requests[1].compress);
    CHECK(requests[2].body == "deployment_status=Finished");
}

TEST_CASE("cursors: kept for the journal they were saved for, not for a new one at its path") {
    pyhost::testing::TemporaryDirectory dir;
    const std::string journal = dir.path + "/run.jsonl";
    const std::string first_run = "{\"seq\":1,\"ts\":\"2026-12-06T06:47:06.507726Z\",\"run_id\":\"a\"}\n"
                                  "{\"seq\":2,\"ts\":\"2026-12-06T06:47:06.507727Z\",\"run_id\":\"a\"}\n";
    pyhost::testing::write_all(journal, first_run);
    {
        CursorStore cursors(journal);
        CHECK(cursors.get("sink") == 0);
        cursors.set("sink", first_run.size());
        cursors.save();
    }
    CHECK(pyhost::testing::read_all(journal + ".cursors").find("\"journal\":\"" + *journal_fingerprint(journal)) !=
          std::string::npos);
    SECTION("the same journal, grown: delivery goes on where it ended") {
        pyhost::testing::append(journal, "{\"seq\":3,\"ts\":\"2026-12-06T06:47:07.000000Z\",\"run_id\":\"b\"}\n");
        CursorStore cursors(journal);
        CHECK(cursors.get("sink") == first_run.size());
    }
    SECTION("the journal removed and created anew, as long or longer: from its beginning") {
        std::filesystem::remove(journal);
        pyhost::testing::write_all(journal, "{\"seq\":1,\"ts\":\"2026-12-06T07:00:00.000001Z\",\"run_id\":\"b\"}\n" + first_run);
        CursorStore cursors(journal);
        CHECK(cursors.get("sink") == 0);
    }
    SECTION("created anew and still empty (a run that has not written yet): from its beginning") {
        std::filesystem::remove(journal);
        pyhost::testing::write_all(journal, "");
        CursorStore cursors(journal);
        CHECK(cursors.get("sink") == 0);
    }
}

TEST_CASE("cursors: saved in place, blank-padded over longer text, recreated when removed") {
    pyhost::testing::TemporaryDirectory dir;
    const std::string journal = dir.path + "/run.jsonl";
    const std::string file = journal + ".cursors";
    const std::string line = "{\"seq\":1,\"ts\":\"2026-12-06T09:00:00.000000Z\",\"run_id\":\"a\"}\n";
    pyhost::testing::write_all(journal, line + line);
    // An earlier run's file (the earlier form), longer than what is saved now: what is left of
    // it must not trail the new text (a rename used to replace it; now it is overwritten
    // where it is). Its second offset is past the journal's end, so it is not kept.
    const std::string earlier = "{\"sink\":0,\"a-sink-of-an-earlier-configuration-with-a-long-name\":99999}\n";
    pyhost::testing::write_all(file, earlier);
    const auto inode_of = [&] {
        struct stat st {};
        REQUIRE(::stat(file.c_str(), &st) == 0);
        return st.st_ino;
    };
    const auto before = inode_of();
    CursorStore cursors(journal);
    CHECK(cursors.get("sink") == 0);
    cursors.set("sink", line.size());
    cursors.save();
    std::string text = pyhost::testing::read_all(file);
    CHECK(inode_of() == before);  // overwritten, not replaced
    CHECK(text.size() == earlier.size());
    CHECK(text.starts_with("{\"journal\":\"" + *journal_fingerprint(journal) + "\",\"sinks\":{\"sink\":" +
                           std::to_string(line.size()) + "}}"));
    CHECK(text.find_first_not_of(' ', text.find("}}") + 2) == text.size() - 1);  // blanks, then the newline
    CHECK(CursorStore(journal).get("sink") == line.size());

    // Removed while the store holds it open: the next save creates it again at its path.
    std::filesystem::remove(file);
    cursors.set("sink", 2 * line.size());
    cursors.save();
    CHECK(CursorStore(journal).get("sink") == 2 * line.size());
    text = pyhost::testing::read_all(file);
    CHECK(text.ends_with(std::to_string(2 * line.size()) + "}}\n"));  // a new file: no padding
}

TEST_CASE("cursors: the earlier file form is read, its offsets kept only within the journal") {
    pyhost::testing::TemporaryDirectory dir;
    const std::string journal = dir.path + "/run.jsonl";
    pyhost::testing::write_all(journal, std::string(100, 'x') + "\n");
    pyhost::testing::write_all(journal + ".cursors", "{\"within\":50,\"past\":500}\n");
    CursorStore cursors(journal);
    CHECK(cursors.get("within") == 50);
    CHECK(cursors.get("past") == 0);
}

TEST_CASE("journal fingerprint: the first line, or its first 128 bytes; none without one") {
    pyhost::testing::TemporaryDirectory dir;
    const std::string journal = dir.path + "/run.jsonl";
    CHECK_FALSE(journal_fingerprint(journal));
    pyhost::testing::write_all(journal, "{\"seq\":1");
    CHECK_FALSE(journal_fingerprint(journal));  // a first line not yet complete
    pyhost::testing::append(journal, "}\n");
    const auto complete = journal_fingerprint(journal);
    REQUIRE(complete);
    CHECK(complete->size() == 16);
    pyhost::testing::append(journal, "{\"seq\":2}\n");
    CHECK(journal_fingerprint(journal) == complete);  // later lines do not count
    pyhost::testing::write_all(journal, std::string(200, 'a'));
    const auto long_line = journal_fingerprint(journal);
    REQUIRE(long_line);
    pyhost::testing::write_all(journal, std::string(128, 'a') + std::string(72, 'b') + "\n");
    CHECK(journal_fingerprint(journal) == long_line);
}
