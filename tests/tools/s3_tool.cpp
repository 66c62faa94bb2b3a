// s3_tool: drives pyhost's S3 client from the command line, for the end-to-end tests
// (tests/e2e/test_s3.py). Test-only: not installed, not part of pyhost.
//
//   s3_tool put s3://bucket/key FILE [CONTENT-TYPE]
//   s3_tool get s3://bucket/key FILE
//   s3_tool list s3://bucket/prefix       (one key a line on stdout)
//
// Configuration from the environment, as pyhost reads it (S3Config::from_environment,
// TlsOptions::from_environment). Exit status 0 on success, 1 with the error on stderr, 2 for
// a usage error.
#include <cstdio>
#include <string>
#include <vector>

#include "reporter/curl_api.hpp"
#include "reporter/http_client.hpp"
#include "storage/s3_client.hpp"

namespace {

int usage() {
    std::fputs(
        "usage: s3_tool put s3://bucket/key FILE [CONTENT-TYPE]\n"
        "       s3_tool get s3://bucket/key FILE\n"
        "       s3_tool list s3://bucket/prefix\n",
        stderr);
    return 2;
}

int fail(const std::string& message) {
    std::fprintf(stderr, "s3_tool: %s\n", message.c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace pyhost;
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 2) {
        return usage();
    }
    const std::string& command = args[0];
    const bool transfer = command == "put" || command == "get";
    if (!(transfer && (args.size() == 3 || (command == "put" && args.size() == 4))) &&
        !(command == "list" && args.size() == 2)) {
        return usage();
    }
    std::string error;
    const std::optional<storage::S3Location> where = storage::parse_s3_url(args[1], error);
    if (!where) {
        return fail(error);
    }
    storage::S3Config config;
    const reporter::CurlApi* curl = nullptr;
    try {
        config = storage::S3Config::from_environment();
        curl = &storage::curl_for(config);
    } catch (const storage::StorageError& e) {
        return fail(e.what());
    }
    storage::S3Client client(*curl, std::move(config), reporter::TlsOptions::from_environment());
    storage::S3Result result;
    if (command == "put") {
        result = client.put_file(*where, args[2], args.size() == 4 ? args[3] : "");
    } else if (command == "get") {
        result = client.get_to_file(*where, args[2]);
    } else {
        std::vector<std::string> keys;
        result = client.list(where->bucket, where->key, keys);
        for (const std::string& key : keys) {
            std::printf("%s\n", key.c_str());
        }
    }
    return result.ok ? 0 : fail(result.error);
}
