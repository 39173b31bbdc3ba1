// The parallel loops (parallel.hpp) and thread settings (threading.hpp): sums identical for
// any team size, the thread cap, and fork safety.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>

#include "fastloss/threading.hpp"
#include "parallel.hpp"

namespace {

using fastloss::kernel_abi::Sums;
namespace parallel = fastloss::parallel;

int available_cpus() {
  cpu_set_t set;
  return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

TEST(ParallelLoops, SumsAreBitwiseIdenticalForAnyTeamSize) {
  auto sum = [](int threads) {
    return parallel::ordered_sum(1000, threads, [](int64_t c) {
      return Sums{1.0 / static_cast<double>(c + 3), static_cast<double>(c % 7) * 0.1};
    });
  };
  const Sums serial = sum(1);
  for (int threads : {2, 3, 5, 8}) {
    const Sums parallel_sum = sum(threads);
    EXPECT_EQ(parallel_sum.loss, serial.loss) << threads << " threads";
    EXPECT_EQ(parallel_sum.weight, serial.weight) << threads << " threads";
  }
}

TEST(ThreadSettings, KernelsStartAtMostOneThreadPerAvailableCpu) {
  const int before = fastloss::get_num_threads();
  fastloss::set_num_threads(1 << 30);
  EXPECT_EQ(fastloss::get_num_threads(), 1 << 30);
  EXPECT_LE(fastloss::kernel_thread_limit(), available_cpus());
  EXPECT_LE(parallel::threads_for(int64_t{1} << 40), available_cpus());
  fastloss::set_num_threads(1);
  EXPECT_EQ(parallel::threads_for(int64_t{1} << 40), 1);
  EXPECT_THROW(fastloss::set_num_threads(0), std::invalid_argument);
  fastloss::set_num_threads(before);
}

#ifdef _OPENMP
TEST(ThreadSettings, AForkedChildRunsSingleThreaded) {
  if (available_cpus() < 2) GTEST_SKIP() << "a thread team needs two CPUs";
  const int before = fastloss::get_num_threads();
  fastloss::set_num_threads(2);
  auto sum = [] {
    return parallel::ordered_sum(64, parallel::threads_for(64), [](int64_t c) {
      return Sums{static_cast<double>(c), 1.0};
    });
  };
  const Sums expected = sum();  // a team of 2 (whose workers fork does not copy)
  const pid_t child = fork();
  if (child == 0) {
    alarm(10);  // a hung child is killed, and fails the test
    const Sums got = sum();
    _exit(fastloss::kernel_thread_limit() == 1 && got.loss == expected.loss ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
  EXPECT_EQ(fastloss::kernel_thread_limit(), 2);
  fastloss::set_num_threads(before);
}
#endif

}  // namespace
