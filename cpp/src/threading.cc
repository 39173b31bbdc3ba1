#include "fastloss/threading.hpp"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "fastloss/portability.hpp"

namespace fastloss {
namespace {

int default_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();  // honours OMP_NUM_THREADS
#else
  return 1;
#endif
}

std::atomic<int>& thread_setting() {
  static std::atomic<int> n{default_threads()};
  return n;
}

std::atomic<InterruptCheck> installed_interrupt_check{nullptr};

#ifdef _OPENMP
// True in a child process created by fork(): the parent's OpenMP workers do not exist there,
// and GNU OpenMP would wait for them forever at the child's first parallel region.
std::atomic<bool> forked_child{false};

void mark_forked_child() { forked_child.store(true, std::memory_order_relaxed); }

// Registered while the library loads, so before any thread team can exist.
[[maybe_unused]] const bool fork_handler_registered =
    portable::at_fork_in_child(&mark_forked_child);
#endif

}  // namespace

void set_num_threads(int n) {
  if (n < 1) {
    throw std::invalid_argument("number of threads must be at least 1, got " + std::to_string(n));
  }
  thread_setting().store(n, std::memory_order_relaxed);
}

int get_num_threads() { return thread_setting().load(std::memory_order_relaxed); }

int kernel_thread_limit() {
#ifdef _OPENMP
  if (forked_child.load(std::memory_order_relaxed)) return 1;
  const int setting = get_num_threads();
  return setting == 1 ? 1 : std::min(setting, omp_get_num_procs());  // affinity-aware
#else
  return 1;
#endif
}

void set_interrupt_check(InterruptCheck check) {
  installed_interrupt_check.store(check, std::memory_order_relaxed);
}

InterruptCheck interrupt_check() {
  return installed_interrupt_check.load(std::memory_order_relaxed);
}

}  // namespace fastloss
