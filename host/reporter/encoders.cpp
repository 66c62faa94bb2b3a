#include "reporter/encoders.hpp"

#include <map>

#include <boost/json.hpp>

#include "capture/json_text.hpp"
#include "common/civil_time.hpp"

namespace pyhost::reporter {
namespace json = boost::json;
namespace {

std::string_view text(const json::object& record, std::string_view key) {
    const json::value* value = record.if_contains(key);
    return value != nullptr && value->is_string() ? std::string_view(value->as_string()) : std::string_view();
}

// Lines that do not parse (a torn last line after a crash) are skipped by every encoder but
// JSON Lines, which ships bytes as they are.
bool parse(std::string_view line, json::object& out) {
    boost::system::error_code error;
    json::value value = json::parse(line, error);
    if (error || !value.is_object()) {
        return false;
    }
    out = std::move(value.as_object());
    return true;
}

void append_quoted(std::string& out, std::string_view value) { capture::json::append_string(out, value); }

// A POST of `body` to `url` with the sink's credentials.
HttpRequest post_to(const Sink& sink, std::string url, std::string content_type, std::string body, bool compress) {
    HttpRequest request;
    request.url = std::move(url);
    request.content_type = std::move(content_type);
    request.body = std::move(body);
    request.compress = compress;
    request.authorization = sink.authorization;
    return request;
}

// --- JSON Lines: pyhost's own protocol, the journal's records as they are ---

class JsonLinesEncoder final : public Encoder {
public:
    explicit JsonLinesEncoder(const Sink& sink) : m_sink(sink) {}
    std::vector<HttpRequest> encode(const Batch& batch) override {
        // The body is the batch's journal text itself: no copy of a journal that can run to
        // hundreds of megabytes.
        HttpRequest request = post_to(m_sink, m_sink.endpoint, "application/x-ndjson", {}, true);
        request.borrowed_body = batch.text();
        return {std::move(request)};
    }

private:
    const Sink& m_sink;
};

// --- Grafana Loki push API (JSON) ---

class LokiEncoder final : public Encoder {
public:
    LokiEncoder(const Sink& sink, const RunIdentity& identity) : m_sink(sink), m_identity(identity) {}
    std::vector<HttpRequest> encode(const Batch& batch) override {
        // One stream per label set; the line is the whole record, so every structured field
        // stays (LogQL: `| json`).
        std::map<std::string, std::vector<std::pair<long long, std::string_view>>> streams;
        json::object record;
        for (std::string_view line : batch.lines()) {
            if (!parse(line, record)) {
                continue;
            }
            const long long ns = timestamp_nanos(text(record, "ts"));
            if (ns < 0) {
                continue;
            }
            std::string labels = "{\"service_name\":";
            append_quoted(labels, m_identity.service_name);
            labels += ",\"run_id\":";
            append_quoted(labels, text(record, "run_id"));
            labels += ",\"stream\":";
            append_quoted(labels, text(record, "stream"));
            labels += ",\"level\":";
            append_quoted(labels, text(record, "level"));
            if (!m_identity.component_id.empty()) {
                labels += ",\"component_id\":";
                append_quoted(labels, m_identity.component_id);
            }
            if (!m_identity.function_id.empty()) {
                labels += ",\"function_id\":";
                append_quoted(labels, m_identity.function_id);
            }
            labels += '}';
            streams[labels].emplace_back(ns, line);
        }
        HttpRequest request = post_to(m_sink, m_sink.endpoint, "application/json", "{\"streams\":[", true);
        bool first_stream = true;
        for (const auto& [labels, values] : streams) {
            request.body += first_stream ? "" : ",";
            first_stream = false;
            request.body += "{\"stream\":" + labels + ",\"values\":[";
            bool first = true;
            for (const auto& [ns, line] : values) {
                request.body += first ? "[\"" : ",[\"";
                first = false;
                request.body += std::to_string(ns);
                request.body += "\",";
                append_quoted(request.body, line);
                request.body += ']';
            }
            request.body += "]}";
        }
        request.body += "]}";
        if (streams.empty()) {
            return {};
        }
        return {std::move(request)};
    }

private:
    const Sink& m_sink;
    const RunIdentity& m_identity;
};

// --- OpenTelemetry OTLP/HTTP, JSON encoding (opentelemetry-proto's JSON mapping:
// lowerCamelCase keys, 64-bit integers as strings, enums as integers) ---

int severity_number(std::string_view level) {
    if (level == "DEBUG") return 5;
    if (level == "INFO") return 9;
    if (level == "WARNING") return 13;
    if (level == "ERROR") return 17;
    if (level == "CRITICAL") return 21;
    return 0;
}

void otlp_attribute(std::string& out, bool& first, std::string_view key, const json::value& value) {
    out += first ? "{\"key\":" : ",{\"key\":";
    first = false;
    append_quoted(out, key);
    out += ",\"value\":";
    if (value.is_string()) {
        out += "{\"stringValue\":";
        append_quoted(out, value.as_string());
        out += '}';
    } else if (value.is_int64() || value.is_uint64()) {
        out += "{\"intValue\":\"" + json::serialize(value) + "\"}";
    } else if (value.is_double()) {
        out += "{\"doubleValue\":" + json::serialize(value) + "}";
    } else if (value.is_bool()) {
        out += value.as_bool() ? "{\"boolValue\":true}" : "{\"boolValue\":false}";
    } else {
        out += "{\"stringValue\":";
        append_quoted(out, value.is_null() ? "" : json::serialize(value));
        out += '}';
    }
    out += '}';
}

class OtlpEncoder final : public Encoder {
public:
    OtlpEncoder(const Sink& sink, const RunIdentity& identity) : m_sink(sink), m_identity(identity) {}
    std::vector<HttpRequest> encode(const Batch& batch) override {
        std::string records;
        json::object record;
        bool first_record = true;
        std::string run_id;
        for (std::string_view line : batch.lines()) {
            if (!parse(line, record)) {
                continue;
            }
            const long long ns = timestamp_nanos(text(record, "ts"));
            if (ns < 0) {
                continue;
            }
            if (run_id.empty()) {
                run_id = std::string(text(record, "run_id"));
            }
            records += first_record ? "{" : ",{";
            first_record = false;
            records += "\"timeUnixNano\":\"" + std::to_string(ns) + "\",\"observedTimeUnixNano\":\"" +
                       std::to_string(ns) + "\"";
            const std::string_view level = text(record, "level");
            records += ",\"severityNumber\":" + std::to_string(severity_number(level));
            records += ",\"severityText\":";
            append_quoted(records, level);
            records += ",\"body\":{\"stringValue\":";
            append_quoted(records, text(record, "message"));
            records += "},\"attributes\":[";
            bool first = true;
            // Semantic-convention names where one exists, pyhost.* for the rest.
            static const std::pair<std::string_view, std::string_view> renames[] = {
                {"seq", "pyhost.seq"},       {"stream", "pyhost.stream"},   {"logger", "logger.name"},
                {"file", "code.filepath"},   {"line", "code.lineno"},       {"func", "code.function"},
                {"thread", "thread.name"},   {"exc", "exception.stacktrace"}, {"stack", "pyhost.stack"},
                {"pid", "process.pid"},      {"fd", "pyhost.fd"},           {"status", "pyhost.status"},
                {"exit_code", "pyhost.exit_code"}, {"signal", "pyhost.signal"}, {"continued", "pyhost.continued"},
            };
            for (const auto& [key, name] : renames) {
                if (const json::value* value = record.if_contains(key); value != nullptr && !value->is_null()) {
                    otlp_attribute(records, first, name, *value);
                }
            }
            if (const json::value* extra = record.if_contains("extra"); extra != nullptr && extra->is_object()) {
                for (const auto& [key, value] : extra->as_object()) {
                    otlp_attribute(records, first, "pyhost.extra." + std::string(key), value);
                }
            }
            if (const json::value* exception = record.if_contains("exception"); exception != nullptr && exception->is_object()) {
                const json::object& e = exception->as_object();
                if (const json::value* v = e.if_contains("type")) otlp_attribute(records, first, "exception.type", *v);
                if (const json::value* v = e.if_contains("message")) otlp_attribute(records, first, "exception.message", *v);
                if (const json::value* v = e.if_contains("traceback")) otlp_attribute(records, first, "exception.stacktrace", *v);
            }
            records += "]}";
        }
        if (first_record) {
            return {};
        }
        std::string body = "{\"resourceLogs\":[{\"resource\":{\"attributes\":[";
        bool first = true;
        otlp_attribute(body, first, "service.name", json::value(m_identity.service_name));
        otlp_attribute(body, first, "pyhost.run_id", json::value(run_id));
        if (!m_identity.component_id.empty()) {
            otlp_attribute(body, first, "pyhost.component_id", json::value(m_identity.component_id));
        }
        if (!m_identity.function_id.empty()) {
            otlp_attribute(body, first, "pyhost.function_id", json::value(m_identity.function_id));
        }
        body += "]},\"scopeLogs\":[{\"scope\":{\"name\":\"pyhost\"},\"logRecords\":[";
        body += records;
        body += "]}]}]}";
        return {post_to(m_sink, m_sink.endpoint, "application/json", std::move(body), true)};
    }

private:
    const Sink& m_sink;
    const RunIdentity& m_identity;
};

// --- The Splight engine API, as splight-runner speaks it ---

std::string form_escape(std::string_view value) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char byte : value) {
        const auto c = static_cast<unsigned char>(byte);
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

class SplightEncoder final : public Encoder {
public:
    explicit SplightEncoder(const Sink& sink) : m_sink(sink) {}
    std::vector<HttpRequest> encode(const Batch& batch) override {
        std::vector<HttpRequest> requests;
        std::string records;
        const auto flush_logs = [&] {
            if (!records.empty()) {
                // No gzip: splight-runner sends plain bodies, and that is what the engine takes.
                requests.push_back(
                    post_to(m_sink, m_sink.endpoint, "application/json", "{\"records\":[" + records + "]}", false));
                records.clear();
            }
        };
        json::object record;
        for (std::string_view line : batch.lines()) {
            if (!parse(line, record)) {
                continue;
            }
            const std::string_view stream = text(record, "stream");
            if (stream == "status") {
                if (const json::value* beat = record.if_contains("heartbeat"); beat != nullptr && beat->is_bool() &&
                                                                               beat->as_bool()) {
                    continue;  // a heartbeat is not a status change
                }
                // A component's own health status (the splight_lib hook) wins over pyhost's.
                std::string word(text(record, "component_status"));
                if (word.empty()) {
                    word = splight_status_word(text(record, "status"));
                }
                if (!word.empty() && word != m_last_status) {
                    flush_logs();  // in order: what was logged before the status change, then it
                    requests.push_back(post_to(m_sink,
                                               m_sink.splight_host + "/" + m_sink.splight_api_version +
                                                   "/engine/component/components/" + m_sink.splight_component_id +
                                                   "/update-status/",
                                               "application/x-www-form-urlencoded",
                                               "deployment_status=" + form_escape(word), false));
                    m_last_status = word;
                }
                continue;
            }
            const std::string_view logger = text(record, "logger");
            std::string_view file = text(record, "file");
            if (const auto slash = file.rfind('/'); slash != std::string_view::npos) {
                file.remove_prefix(slash + 1);
            }
            records += records.empty() ? "{" : ",{";
            records += "\"sender_type\":\"component\",\"name\":";
            append_quoted(records, logger.empty() ? stream : logger);
            records += ",\"message\":";
            append_quoted(records, text(record, "message"));
            records += ",\"loglevel\":";
            append_quoted(records, text(record, "level"));
            records += ",\"filename\":";
            append_quoted(records, file);
            records += ",\"traceback\":";
            append_quoted(records, text(record, "exc"));
            records += ",\"tags\":";
            const json::value* extra = record.if_contains("extra");
            const json::value* tags = extra != nullptr && extra->is_object() ? extra->as_object().if_contains("tags") : nullptr;
            records += tags != nullptr ? json::serialize(*tags) : "null";
            records += ",\"id\":";
            append_quoted(records, m_sink.splight_component_id);
            records += '}';
        }
        flush_logs();
        return requests;
    }

private:
    const Sink& m_sink;
    std::string m_last_status;  // status changes only, as splight-runner sends them
};

}  // namespace

std::string splight_status_word(std::string_view status) {
    if (status == "running") return "Running";
    if (status == "finished") return "Finished";
    if (status == "failed" || status == "timed_out") return "Failed";
    if (status == "stopped") return "Stopped";
    return {};
}

long long timestamp_nanos(std::string_view iso) {
    // YYYY-MM-DDTHH:MM:SS.ffffffZ
    if (iso.size() != 27 || iso[4] != '-' || iso[10] != 'T' || iso[19] != '.' || iso[26] != 'Z') {
        return -1;
    }
    const auto field = [&](std::size_t at, std::size_t length) { return decimal_digits(iso.substr(at, length)); };
    const auto year = field(0, 4), month = field(5, 2), day = field(8, 2);
    const auto hour = field(11, 2), minute = field(14, 2), second = field(17, 2), micros = field(20, 6);
    if (!year || !month || !day || !hour || !minute || !second || !micros) {
        return -1;
    }
    const std::optional<long long> seconds = seconds_from_civil(*year, *month, *day, *hour, *minute, *second);
    if (!seconds) {
        return -1;
    }
    return *seconds * 1'000'000'000LL + *micros * 1000;
}

std::unique_ptr<Encoder> make_encoder(const Sink& sink, const RunIdentity& identity) {
    switch (sink.kind) {
    case SinkKind::jsonl: return std::make_unique<JsonLinesEncoder>(sink);
    case SinkKind::loki: return std::make_unique<LokiEncoder>(sink, identity);
    case SinkKind::otlp: return std::make_unique<OtlpEncoder>(sink, identity);
    case SinkKind::splight: return std::make_unique<SplightEncoder>(sink);
    }
    return nullptr;
}

}  // namespace pyhost::reporter
