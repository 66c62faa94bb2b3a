#include "reporter/sink.hpp"

#include <cstdlib>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "common/env.hpp"

namespace pyhost::reporter {
namespace {

std::string base64(std::string_view text) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    const auto byte = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(text[k])); };
    for (; i + 2 < text.size(); i += 3) {
        const unsigned v = (byte(i) << 16U) | (byte(i + 1) << 8U) | byte(i + 2);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (i + 1 == text.size()) {
        const unsigned v = byte(i) << 16U;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == text.size()) {
        const unsigned v = (byte(i) << 16U) | (byte(i + 1) << 8U);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

std::string join_path(std::string_view base, std::string_view suffix) {
    std::string path(base);
    while (!path.empty() && path.back() == '/') {
        path.pop_back();
    }
    return path + std::string(suffix);
}

}  // namespace

std::string redact_url(std::string_view url) {
    const auto parsed = boost::urls::parse_uri(url);
    if (!parsed) {
        // Not a URL at all: say nothing of its content beyond where a secret cannot be.
        const auto scheme_end = url.find("://");
        return scheme_end == std::string_view::npos ? std::string("<unparsable sink>")
                                                    : std::string(url.substr(0, scheme_end)) + "://<unparsable>";
    }
    boost::urls::url copy(*parsed);
    if (copy.has_userinfo()) {
        copy.set_userinfo("***");
    }
    if (copy.has_query()) {
        copy.set_query("***");
    }
    return std::string(copy.buffer());
}

Sink parse_sink(std::string_view text) {
    const std::string shown = redact_url(text);
    const auto parsed = boost::urls::parse_uri(text);
    if (!parsed) {
        throw SinkError("sink " + shown + ": not a URL (" + parsed.error().message() + ")");
    }
    const boost::urls::url_view url = *parsed;
    const std::string scheme(url.scheme());
    Sink sink;
    std::string transport;
    if (const auto plus = scheme.find('+'); plus != std::string::npos) {
        const std::string kind = scheme.substr(0, plus);
        transport = scheme.substr(plus + 1);
        if (kind == "jsonl") {
            sink.kind = SinkKind::jsonl;
        } else if (kind == "loki") {
            sink.kind = SinkKind::loki;
        } else if (kind == "otlp") {
            sink.kind = SinkKind::otlp;
        } else {
            throw SinkError("sink " + shown + ": unknown kind '" + kind + "' (jsonl+, loki+ or otlp+)");
        }
    } else {
        throw SinkError("sink " + shown + ": the scheme must say the kind: jsonl+http(s)://, loki+http(s):// or otlp+http(s)://");
    }
    if (transport != "http" && transport != "https") {
        throw SinkError("sink " + shown + ": transport must be http or https, not '" + transport + "'");
    }
    if (url.host().empty()) {
        throw SinkError("sink " + shown + ": no host");
    }
    if (url.has_userinfo()) {
        const std::string user(url.user());
        const std::string password(url.password());
        sink.authorization = user.empty() ? "Bearer " + password : "Basic " + base64(user + ":" + password);
    }
    boost::urls::url endpoint(url);
    endpoint.set_scheme(transport);
    endpoint.remove_userinfo();
    endpoint.remove_fragment();
    if (sink.kind == SinkKind::loki) {
        endpoint.set_path(join_path(url.path(), "/loki/api/v1/push"));
    } else if (sink.kind == SinkKind::otlp) {
        endpoint.set_path(join_path(url.path(), "/v1/logs"));
    }
    sink.endpoint = std::string(endpoint.buffer());
    sink.redacted = shown;
    boost::urls::url id(endpoint);
    id.remove_query();
    sink.id = std::string(text.substr(0, text.find(':'))) + " " + std::string(id.buffer());
    return sink;
}

std::vector<Sink> parse_sink_list(std::string_view list) {
    std::vector<Sink> sinks;
    while (!list.empty()) {
        const auto comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        while (!item.empty() && item.front() == ' ') {
            item.remove_prefix(1);
        }
        while (!item.empty() && item.back() == ' ') {
            item.remove_suffix(1);
        }
        if (!item.empty()) {
            sinks.push_back(parse_sink(item));
        }
        if (comma == std::string_view::npos) {
            break;
        }
        list.remove_prefix(comma + 1);
    }
    return sinks;
}

bool splight_sink_from_environment(const std::vector<std::string>& program_args, Sink& out) {
    const std::string host = env("SPLIGHT_PLATFORM_API_HOST");
    const std::string access_id = env("SPLIGHT_ACCESS_ID");
    const std::string secret = env("SPLIGHT_SECRET_KEY");
    if (host.empty() || access_id.empty() || secret.empty()) {
        return false;
    }
    std::string component = env("COMPONENT_ID");
    for (std::size_t i = 0; i < program_args.size(); ++i) {
        const std::string& arg = program_args[i];
        if (arg.rfind("--component-id=", 0) == 0) {
            component = arg.substr(15);
        } else if (arg == "--component-id" && i + 1 < program_args.size()) {
            component = program_args[i + 1];
        }
    }
    if (component.empty()) {
        return false;
    }
    std::string version = env("SPLIGHT_API_VERSION");
    if (version.empty()) {
        version = "v4";
    }
    std::string base = host;
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    out = Sink{};
    out.kind = SinkKind::splight;
    out.endpoint = base + "/" + version + "/logs/write";
    out.redacted = "splight " + redact_url(base) + " (component " + component + ")";
    out.authorization = "Splight " + access_id + " " + secret;
    out.id = "splight " + base + " " + component;
    out.splight_host = base;
    out.splight_api_version = version;
    out.splight_component_id = component;
    return true;
}

}  // namespace pyhost::reporter
