// Runs a parametrised test once per SIMD target this CPU supports, with the target forced
// for the test's duration, so every compiled kernel is exercised, not only the best.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "fastloss/dispatch.hpp"

namespace fastloss_test {

class PerTarget : public ::testing::TestWithParam<fastloss::Target> {
 protected:
  void SetUp() override {
    previous_ = fastloss::target_name(fastloss::active_target());
    fastloss::force_target(fastloss::target_name(GetParam()));
  }
  void TearDown() override { fastloss::force_target(previous_); }

 private:
  std::string previous_;
};

inline std::string target_param_name(const ::testing::TestParamInfo<fastloss::Target>& info) {
  return fastloss::target_name(info.param);
}

}  // namespace fastloss_test

// Instantiates `suite` (derived from fastloss_test::PerTarget) for every supported target.
#define FASTLOSS_INSTANTIATE_PER_TARGET(suite)                                            \
  INSTANTIATE_TEST_SUITE_P(Targets, suite,                                                \
                           ::testing::ValuesIn(fastloss::supported_targets()),           \
                           fastloss_test::target_param_name)
