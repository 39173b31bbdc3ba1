// Run-time SIMD target selection.
//
// Every kernel family is compiled once per target of the host architecture (see
// cmake/FastlossTargets.cmake). The best target the CPU supports is chosen once, at first
// use; FASTLOSS_TARGET=<name> in the environment forces a lower compiled target.
#pragma once

#include <string>
#include <vector>

namespace fastloss {

// Ordered from least to most capable; the numeric value indexes per-target tables.
enum class Target : int { kBaseline = 0, kNeon = 1, kAvx2 = 2, kAvx512 = 3 };
inline constexpr int kNumTargets = 4;

const char* target_name(Target target);

// Targets compiled into this build, lowest first.
std::vector<Target> compiled_targets();

// Compiled targets that this CPU can run, lowest first.
std::vector<Target> supported_targets();

// The target kernels currently run on.
Target active_target();

// Makes `name` the active target. Throws std::invalid_argument for an unknown name, a
// target not compiled in, or one this CPU cannot run.
void force_target(const std::string& name);

}  // namespace fastloss
