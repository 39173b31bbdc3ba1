// Runs a parametrised test once per SIMD target this CPU supports, with the target forced
// for the test's duration, so every compiled kernel is exercised, not only the best.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

template <class T>
constexpr fastloss::DType dtype_of() {
  return sizeof(T) == 4 ? fastloss::DType::kFloat32 : fastloss::DType::kFloat64;
}

// |expected - actual| <= tol * max(1, |expected|); a NaN or infinite expectation must be met
// exactly.
inline void expect_close(long double expected, long double actual, long double tol, const char* what, size_t i) {
  if (std::isnan(expected) || std::isinf(expected)) {
    EXPECT_EQ(std::isnan(expected), std::isnan(actual)) << what << " at " << i;
    if (std::isinf(expected)) {
      EXPECT_EQ(expected, actual) << what << " at " << i;
    }
    return;
  }
  const long double scale = std::max(1.0L, std::fabs(expected));
  EXPECT_LE(std::fabs(expected - actual), tol * scale)
      << what << " at " << i << ": expected " << static_cast<double>(expected) << " got " << static_cast<double>(actual);
}

}  // namespace fastloss_test

// Instantiates `suite` (derived from fastloss_test::PerTarget) for every supported target.
#define FASTLOSS_INSTANTIATE_PER_TARGET(suite)                                            \
  INSTANTIATE_TEST_SUITE_P(Targets, suite,                                                \
                           ::testing::ValuesIn(fastloss::supported_targets()),           \
                           fastloss_test::target_param_name)
