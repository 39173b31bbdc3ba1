// Per-target tables for the baseline dispatcher: ByTarget<T> holds one entry per compiled
// target, indexed by fastloss::Target, and active() returns the running target's entry.
#pragma once

#include "fastloss/dispatch.hpp"
#include "kernels/target_macros.hpp"

namespace fastloss {

template <class T>
struct ByTarget {
  T entries[kNumTargets] = {};
  T active() const { return entries[static_cast<int>(active_target())]; }
  T at(Target t) const { return entries[static_cast<int>(t)]; }
};

}  // namespace fastloss
