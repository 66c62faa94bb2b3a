// pyhost's own threads: started without allocating (the capture thread and the timeout watchdog,
// which allocate nothing on their way to a normal end), named, and yielding the CPU to the
// program where they can.
#pragma once

#include <cerrno>

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

namespace pyhost {

// Starts `object->Run()` on a new detached thread; returns 0, or pthread_create's error.
//
// Not std::thread: std::thread allocates its callable and frees it on the new thread when the
// callable returns, and a thread's first free() creates its malloc arena, a 128 MiB mapping
// trimmed by two munmap()s, each a TLB shootdown of the CPUs running the program. A thread that
// allocates nothing else never needs an arena; for the capture thread, which ends as the run
// does, that one free() cost every captured run's exit about 0.5 ms (`-c pass`, 2 cores).
// Detached: such a thread ends on its own (nobody joins it); `object` must outlive it.
template <class Object, void (Object::*Run)() noexcept>
int start_detached_thread(Object* object) noexcept {
    pthread_attr_t attributes;
    if (const int error = pthread_attr_init(&attributes); error != 0) {
        return error;
    }
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    const int error = pthread_create(
        &thread, &attributes,
        [](void* argument) -> void* {
            (static_cast<Object*>(argument)->*Run)();
            return nullptr;
        },
        object);
    pthread_attr_destroy(&attributes);
    return error;
}

// Names the calling thread (at most 15 bytes), so that top -H, ps -L and perf tell pyhost's
// threads from the program's. A system call, no allocation.
inline void name_this_thread(const char* name) noexcept { (void)pthread_setname_np(pthread_self(), name); }

// For work that may lag without losing anything (shipping the journal): when the program and
// that work both want a CPU, the program's threads get three times the share (nice 5 above the
// program's own value: CFS weights 1024 to 335), so it slows the program as little as it can
// and catches up when the program waits, or in the drain after it ends. A share, not idle
// time: it still runs under a program that keeps every CPU busy. Not for the capture thread:
// the program waits for it when the capture ring is full, and drops records after 200 ms, so
// it keeps the program's priority. Lowering a thread's priority needs no privilege.
inline void yield_cpu_to_program() noexcept {
    const auto self = static_cast<id_t>(::gettid());
    errno = 0;
    const int current = ::getpriority(PRIO_PROCESS, self);
    if (errno == 0) {
        (void)::setpriority(PRIO_PROCESS, self, current + 5);
    }
}

}  // namespace pyhost
