// Run-time target selection (dispatch.hpp): the best supported target by default, another
// through FASTLOSS_TARGET or force_target, and a clear error for a target that cannot run.
// tests/cpp/CMakeLists.txt runs TheEnvironmentChoosesTheTarget again with FASTLOSS_TARGET
// set to every compiled target and to an unknown name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastloss/dispatch.hpp"

namespace {

using fastloss::Target;

const Target kAllTargets[] = {Target::kBaseline, Target::kNeon, Target::kAvx2, Target::kAvx512};

bool contains(const std::vector<Target>& targets, Target t) {
  return std::find(targets.begin(), targets.end(), t) != targets.end();
}

TEST(Dispatch, SupportedTargetsAreCompiledOnesInOrder) {
  const std::vector<Target> compiled = fastloss::compiled_targets();
  const std::vector<Target> supported = fastloss::supported_targets();
  ASSERT_FALSE(supported.empty());
  for (Target t : supported) EXPECT_TRUE(contains(compiled, t)) << fastloss::target_name(t);
  EXPECT_TRUE(std::is_sorted(compiled.begin(), compiled.end()));
  EXPECT_TRUE(std::is_sorted(supported.begin(), supported.end()));
}

// The environment is read once, at first use: ctest runs each case in a fresh process.
TEST(Dispatch, TheEnvironmentChoosesTheTarget) {
  const std::vector<Target> supported = fastloss::supported_targets();
  const char* forced = std::getenv("FASTLOSS_TARGET");
  if (forced == nullptr || *forced == '\0') {
    EXPECT_EQ(fastloss::active_target(), supported.back());
    return;
  }
  for (Target t : supported) {
    if (std::string(forced) == fastloss::target_name(t)) {
      EXPECT_EQ(fastloss::active_target(), t);
      return;
    }
  }
  // Unknown, not compiled in, or beyond this CPU.
  EXPECT_THROW(fastloss::active_target(), std::invalid_argument) << forced;
}

TEST(Dispatch, ForceTargetTakesEverySupportedTargetAndRefusesTheRest) {
  const std::vector<Target> supported = fastloss::supported_targets();
  const Target before = fastloss::active_target();
  for (Target t : kAllTargets) {
    if (contains(supported, t)) {
      fastloss::force_target(fastloss::target_name(t));
      EXPECT_EQ(fastloss::active_target(), t);
    } else {
      EXPECT_THROW(fastloss::force_target(fastloss::target_name(t)), std::invalid_argument)
          << fastloss::target_name(t);
    }
  }
  EXPECT_THROW(fastloss::force_target("sse9"), std::invalid_argument);
  fastloss::force_target(fastloss::target_name(before));
}

}  // namespace
