// The parallel loops (parallel.hpp) and thread settings (threading.hpp): sums identical for
// any team size, the thread cap, fork safety, and interruption through the interrupt check.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <thread>

#include "fastloss/threading.hpp"
#include "parallel.hpp"

namespace {

using fastloss::Interrupted;
using fastloss::kernel_abi::Sums;
namespace parallel = fastloss::parallel;
using Clock = std::chrono::steady_clock;

constexpr int kTeamSizes[] = {1, 2, 3};

// What the installed interrupt check answers, and who asked it.
std::atomic<bool> interrupt_requested{false};
std::atomic<int> checks{0};
std::atomic<int> checks_off_the_calling_thread{0};
std::thread::id calling_thread;

bool recording_check() {
  ++checks;
  if (std::this_thread::get_id() != calling_thread) ++checks_off_the_calling_thread;
  return interrupt_requested.load();
}

class InterruptCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    interrupt_requested = false;
    checks = 0;
    checks_off_the_calling_thread = 0;
    calling_thread = std::this_thread::get_id();
    fastloss::set_interrupt_check(&recording_check);
  }
  void TearDown() override { fastloss::set_interrupt_check(nullptr); }
};

// Chunks of 1 ms: a loop of kSlowChunks runs a second or more, far past the poll interval.
constexpr int64_t kSlowChunks = 1000;
void slow_chunk() { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }

// The CPUs this process may run on: its affinity mask on Linux; elsewhere (macOS has no
// affinity masks) every CPU.
int available_cpus() {
#ifdef __linux__
  cpu_set_t set;
  return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
#else
  return static_cast<int>(std::thread::hardware_concurrency());
#endif
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

TEST(ParallelLoops, WithoutAnInterruptCheckEveryChunkRuns) {
  fastloss::set_interrupt_check(nullptr);
  for (int threads : kTeamSizes) {
    std::atomic<int64_t> ran{0};
    parallel::for_each_chunk(100, threads, [&](int64_t) {
      slow_chunk();
      ++ran;
    });
    EXPECT_EQ(ran.load(), 100) << threads << " threads";
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

TEST_F(InterruptCheck, AnInterruptStopsTheLoopEarlyAndThrows) {
  interrupt_requested = true;
  for (int threads : kTeamSizes) {
    std::atomic<int64_t> ran{0};
    EXPECT_THROW(parallel::for_each_chunk(kSlowChunks, threads,
                                          [&](int64_t) {
                                            slow_chunk();
                                            ++ran;
                                          }),
                 Interrupted)
        << threads << " threads";
    EXPECT_LT(ran.load(), kSlowChunks / 2) << threads << " threads";
    EXPECT_THROW(parallel::ordered_sum(kSlowChunks, threads,
                                       [](int64_t) {
                                         slow_chunk();
                                         return Sums{1.0, 1.0};
                                       }),
                 Interrupted)
        << threads << " threads";
  }
  EXPECT_GE(checks.load(), 2 * static_cast<int>(std::size(kTeamSizes)));
  EXPECT_EQ(checks_off_the_calling_thread.load(), 0);
}

TEST_F(InterruptCheck, AChunkOfAnotherThreadStillRunningIsPolledFor) {
  // Static scheduling gives the calling thread the first half: it finishes at once, and the
  // other thread's slow half must still be interrupted.
  interrupt_requested = true;
  std::atomic<int64_t> ran{0};
  EXPECT_THROW(parallel::for_each_chunk(2 * kSlowChunks, 2,
                                        [&](int64_t c) {
                                          if (c >= kSlowChunks) slow_chunk();
                                          ++ran;
                                        }),
               Interrupted);
  EXPECT_LT(ran.load(), kSlowChunks + kSlowChunks / 2);
  EXPECT_EQ(checks_off_the_calling_thread.load(), 0);
}

TEST_F(InterruptCheck, TheNextLoopRunsInFull) {
  interrupt_requested = true;
  EXPECT_THROW(parallel::for_each_chunk(kSlowChunks, 2, [](int64_t) { slow_chunk(); }),
               Interrupted);
  interrupt_requested = false;
  for (int threads : kTeamSizes) {
    const Sums total = parallel::ordered_sum(200, threads, [](int64_t c) {
      slow_chunk();
      return Sums{static_cast<double>(c), 1.0};
    });
    EXPECT_EQ(total.loss, 199.0 * 200.0 / 2) << threads << " threads";
    EXPECT_EQ(total.weight, 200.0) << threads << " threads";
  }
}

TEST_F(InterruptCheck, IsAskedAtMostOncePerPollInterval) {
  // 200 chunks, each of which could ask; the (coarse) poll clock is good to a few ms.
  const Clock::time_point start = Clock::now();
  parallel::for_each_chunk(200, 2, [](int64_t) { slow_chunk(); });
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  EXPECT_GE(checks.load(), 1);
  EXPECT_LE(checks.load(), elapsed.count() / (fastloss::kInterruptPollMilliseconds / 2));
}

TEST_F(InterruptCheck, ANestedLoopLeavesStoppingToTheOuterOne) {
  // An exception cannot leave an OpenMP parallel region (it would terminate the process):
  // only the outer loop may throw, though each inner loop outlasts the poll interval.
  interrupt_requested = true;
  const int64_t inner_chunks = 2 * fastloss::kInterruptPollMilliseconds;
  EXPECT_THROW(parallel::for_each_chunk(100, 2,
                                        [&](int64_t) {
                                          parallel::for_each_chunk(inner_chunks, 2,
                                                                   [](int64_t) { slow_chunk(); });
                                        }),
               Interrupted);
}

}  // namespace
