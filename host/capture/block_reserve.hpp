// Disk blocks reserved ahead of a file that grows by appends (the journal, the console log).
//
// Why: on ext4 every 4 KiB block appended to a file goes through delayed allocation's
// per-block reservation and quota accounting, and a flood's journal is 168 MB per million
// lines: for the capture thread, that accounting cost a third of the system time of writing
// it (measured here: 0.041 s of CPU to append 168 MB in 256 KiB writes, 0.027 s with the
// blocks reserved 8 MiB ahead). fallocate(FALLOC_FL_KEEP_SIZE) reserves them a stretch at a
// time instead, without changing the file's size, so readers (the shippers, `tail -f`) see
// nothing of it.
//
// Contract: only files this process created are reserved for (so that another writer
// appending to a file it shares, which would be a second run given the same path, is not
// cut by release()), only once they pass `start` bytes (a short run makes no extra system
// call), and only while the file system takes it (a FIFO, /dev/full, or a file system without
// fallocate turn it off at the first refusal, silently: writing goes on as before). What is
// reserved past the end is given back by release(), at the end of the run; a process killed
// before that leaves at most `step` bytes reserved past the end of its file, which whatever
// next holds the journal gives back (release_blocks_past_end(): a function run's supervisor
// completing it, a replay, the next run shipping the state directory's leftovers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pyhost::capture {

class BlockReserve {
public:
    static constexpr std::uint64_t k_default_start = std::uint64_t{1} << 20;
    static constexpr std::uint64_t k_default_step = std::uint64_t{8} << 20;

    explicit BlockReserve(std::uint64_t start = k_default_start, std::uint64_t step = k_default_step)
        : m_start(start), m_step(step) {}

    // Starts reserving for `fd`, a regular file this process has just created and opened for
    // appending (nothing happens for anything else).
    void attach(int fd) noexcept;

    // Before `bytes` are appended: reserves the next stretch when they would run past what is
    // reserved. No allocation; one system call per `step` bytes at most.
    void before_append(std::size_t bytes) noexcept;
    // After `bytes` were appended.
    void appended(std::size_t bytes) noexcept { m_end += bytes; }

    // Gives back the blocks reserved past the end of the file, if the file still ends where
    // this process's appends left it. Reservation stops.
    void release() noexcept;

    // Where the blocks reserved for the file end: its end, or a stretch past it.
    std::uint64_t reserved_end() const { return m_reserved > m_end ? m_reserved : m_end; }

private:
    std::uint64_t m_start;
    std::uint64_t m_step;
    int m_fd = -1;              // -1: not reserving
    std::uint64_t m_end = 0;    // the file's size, as this process's appends left it
    std::uint64_t m_reserved = 0;
};

// Gives back the disk blocks that a run killed before its end left reserved past the end of
// the file at `path`, if it has any. Only for a file no live process appends to (for a journal,
// its lock says so). The file's bytes and size stay; when nothing is reserved, nothing is
// written (its times included).
void release_blocks_past_end(const std::string& path) noexcept;

}  // namespace pyhost::capture
