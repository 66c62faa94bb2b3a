// Where records go: the sinks named by PYHOST_SINKS / --sink, and the Splight engine.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pyhost::reporter {

enum class SinkKind {
    jsonl,    // jsonl+http(s)://host:port/path: the journal's own records, JSON Lines (pyhost's protocol)
    loki,     // loki+http(s)://host:port: Grafana Loki's push API
    otlp,     // otlp+http(s)://host:port: OpenTelemetry OTLP/HTTP logs, JSON
    splight,  // the Splight engine API (from SPLIGHT_* variables, not a URL)
};

struct Sink {
    SinkKind kind = SinkKind::jsonl;
    std::string endpoint;       // where batches are POSTed, without credentials
    std::string redacted;       // the sink as it may appear in messages: no secret in it
    std::string authorization;  // an Authorization header value, or empty
    std::string id;             // stable name of the sink for its cursor (no secret in it)
    // Splight only: the API host, version and component, for the status endpoint.
    std::string splight_host, splight_api_version, splight_component_id;
};

// A sink specification pyhost cannot use. The message names the entry, redacted.
class SinkError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Parses one sink URL. Credentials in the URL become the Authorization header: `user:pass@`
// is Basic, `:token@` (no user) is Bearer. Throws SinkError.
Sink parse_sink(std::string_view url);

// Parses a comma-separated list (PYHOST_SINKS). Throws SinkError on the first bad entry.
std::vector<Sink> parse_sink_list(std::string_view list);

// The Splight sink, when SPLIGHT_PLATFORM_API_HOST, SPLIGHT_ACCESS_ID and SPLIGHT_SECRET_KEY
// are set and a component id is known (COMPONENT_ID, or --component-id in the program's
// arguments, as splight-runner passes it). The API version is SPLIGHT_API_VERSION (default v4).
bool splight_sink_from_environment(const std::vector<std::string>& program_args, Sink& out);

// A URL with its userinfo replaced by ***, for messages.
std::string redact_url(std::string_view url);

}  // namespace pyhost::reporter
