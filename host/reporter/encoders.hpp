// Journal records into each sink's wire format. Pure functions of the records: no I/O, no
// Python, testable alone (tests/unit/test_encoders.cpp).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reporter/http_client.hpp"
#include "reporter/journal_tail.hpp"
#include "reporter/sink.hpp"

namespace pyhost::reporter {

// Labels and resource attributes a run carries on every sink.
struct RunIdentity {
    std::string service_name;  // OTLP service.name (PYHOST_SERVICE_NAME, else the program's name)
    std::string component_id;  // a Splight component, when known
    std::string function_id;   // an openOBD function, when known
};

class Encoder {
public:
    virtual ~Encoder() = default;
    // The requests that deliver the batch's lines, in order. Status changes become their own
    // requests for sinks that have a status endpoint. A request may borrow the batch's bytes
    // (HttpRequest::borrowed_body): it is sent before the batch is read again.
    virtual std::vector<HttpRequest> encode(const Batch& batch) = 0;
};

std::unique_ptr<Encoder> make_encoder(const Sink& sink, const RunIdentity& identity);

// Splight's words for pyhost's statuses: Running, Finished, Failed, Stopped.
std::string splight_status_word(std::string_view status);

// "2026-11-22T05:09:45.123456Z" to nanoseconds since the epoch; -1 if malformed.
long long timestamp_nanos(std::string_view iso);

}  // namespace pyhost::reporter
