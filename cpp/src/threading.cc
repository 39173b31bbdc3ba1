#include "fastloss/threading.hpp"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

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
  const int setting = get_num_threads();
  return setting == 1 ? 1 : std::min(setting, omp_get_num_procs());  // affinity-aware
#else
  return 1;
#endif
}

}  // namespace fastloss
