// Threads used by the kernels.
#pragma once

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

}  // namespace fastloss
