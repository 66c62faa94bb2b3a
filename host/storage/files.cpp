#include "storage/files.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_descriptor.hpp"

namespace pyhost::storage {
namespace {

std::string why(const std::string& what, int error) { return what + ": " + std::strerror(error); }

}  // namespace

bool make_directories(const std::string& path, unsigned mode) {
    for (std::size_t i = 1; i <= path.size(); ++i) {
        if (i == path.size() || path[i] == '/') {
            const std::string partial = path.substr(0, i);
            if (::mkdir(partial.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST) {
                return false;
            }
        }
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return false;
    }
    return true;
}

std::string copy_file_atomically(const std::string& source, const std::string& destination) {
    const std::size_t slash = destination.rfind('/');
    const std::string directory = slash == std::string::npos ? "." : destination.substr(0, slash);
    if (!directory.empty() && !make_directories(directory, 0755)) {
        return why("cannot create " + directory, errno);
    }
    const FileDescriptor in(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
    if (in.get() < 0) {
        return why("cannot read " + source, errno);
    }
    struct stat st {};
    if (fstat(in.get(), &st) != 0) {
        return why("cannot read " + source, errno);
    }
    const std::string temporary = destination + ".tmp-" + std::to_string(::getpid());
    {
        const FileDescriptor out(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (out.get() < 0) {
            return why("cannot write " + temporary, errno);
        }
        off_t offset = 0;
        while (offset < st.st_size) {
            const ssize_t sent = ::sendfile(out.get(), in.get(), &offset, static_cast<std::size_t>(st.st_size - offset));
            if (sent < 0 && errno == EINTR) {
                continue;
            }
            if (sent <= 0) {
                const int error = sent < 0 ? errno : EIO;
                ::unlink(temporary.c_str());
                return why("cannot write " + temporary, error);
            }
        }
        if (::fsync(out.get()) != 0) {
            const int error = errno;
            ::unlink(temporary.c_str());
            return why("cannot write " + temporary, error);
        }
    }
    if (::rename(temporary.c_str(), destination.c_str()) != 0) {
        const int error = errno;
        ::unlink(temporary.c_str());
        return why("cannot rename " + temporary + " to " + destination, error);
    }
    // The rename itself must survive a crash too.
    if (const FileDescriptor dir(::open(directory.empty() ? "/" : directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        dir.get() >= 0) {
        (void)::fsync(dir.get());
    }
    return {};
}

std::string remove_tree(const std::string& path) {
    std::error_code error;
    // std::filesystem::remove_all removes symbolic links themselves, never their targets.
    std::filesystem::remove_all(path, error);
    return error ? "cannot remove " + path + ": " + error.message() : std::string();
}

}  // namespace pyhost::storage
