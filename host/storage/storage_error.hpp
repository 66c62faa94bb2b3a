// The error of storage configuration and set-up (S3 today; local directories and archives
// share it). Its message names what was wrong (the variable, bucket, key or path) and never
// holds a secret.
#pragma once

#include <stdexcept>

namespace pyhost::storage {

class StorageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace pyhost::storage
