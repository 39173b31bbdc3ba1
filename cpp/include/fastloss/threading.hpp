// Threads used by the kernels, and cancellation of a long kernel.
#pragma once

#include <exception>

namespace fastloss {

// The thread setting. Defaults to OpenMP's (so OMP_NUM_THREADS is respected); any n >= 1 is
// accepted, since kernel_thread_limit() caps what kernels start. Throws
// std::invalid_argument when n < 1.
void set_num_threads(int n);
int get_num_threads();

// The most threads a kernel starts: get_num_threads(), capped at the CPUs this process may
// run on (the calling thread's affinity mask, read at each call), so an oversized setting
// never oversubscribes the machine; and 1 in a child process created by fork(), where
// OpenMP's thread pool is lost (it does not survive fork) and a team would hang.
int kernel_thread_limit();

// Cancellation. A kernel's parallel loops ask the interrupt check, from the thread that
// called the kernel and at most every kInterruptPollMilliseconds, whether to stop; once it
// says yes, every thread skips its remaining chunks and the kernel throws Interrupted,
// leaving any output partially written. The check must not throw. Without one (nullptr, the
// default) kernels always run to the end.
using InterruptCheck = bool (*)();
inline constexpr int kInterruptPollMilliseconds = 20;
void set_interrupt_check(InterruptCheck check);
InterruptCheck interrupt_check();

class Interrupted : public std::exception {
 public:
  const char* what() const noexcept override { return "fastloss kernel interrupted"; }
};

}  // namespace fastloss
