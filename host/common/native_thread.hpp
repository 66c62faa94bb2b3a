// pyhost's own threads that allocate nothing on their way to a normal end: the capture thread
// and the timeout watchdog.
#pragma once

#include <pthread.h>

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

}  // namespace pyhost
