#include "fastloss/dispatch.hpp"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include "fastloss/portability.hpp"
#include "kernels/target_macros.hpp"

namespace fastloss {
namespace {

bool compiled(Target t) {
#define FASTLOSS_IS_TARGET(ns, enumerator, unused) \
  if (t == Target::enumerator) return true;
  FASTLOSS_FOR_EACH_COMPILED_TARGET(FASTLOSS_IS_TARGET, )
#undef FASTLOSS_IS_TARGET
  return false;
}

bool cpu_supports(Target t) {
  switch (t) {
    case Target::kBaseline:
    case Target::kNeon:
      return true;
#if defined(__x86_64__) || defined(_M_X64)
    case Target::kAvx2:
      return portable::x86_features().avx2_fma;
    case Target::kAvx512:
      return portable::x86_features().avx512;
#endif
    default:
      return false;
  }
}

const Target kAllTargets[] = {Target::kBaseline, Target::kNeon, Target::kAvx2, Target::kAvx512};

Target parse_target(const std::string& name) {
  for (Target t : kAllTargets) {
    if (name == target_name(t)) return t;
  }
  throw std::invalid_argument("unknown SIMD target '" + name +
                              "' (known: baseline, neon, avx2, avx512)");
}

void require_runnable(Target t) {
  if (!compiled(t)) {
    throw std::invalid_argument(std::string("SIMD target '") + target_name(t) +
                                "' is not compiled into this build");
  }
  if (!cpu_supports(t)) {
    throw std::invalid_argument(std::string("SIMD target '") + target_name(t) +
                                "' is not supported by this CPU");
  }
}

Target detect_best() {
  Target best = compiled_targets().front();
  for (Target t : supported_targets()) best = t;
  if (const char* forced = std::getenv("FASTLOSS_TARGET")) {
    if (*forced != '\0') {
      const Target t = parse_target(forced);
      require_runnable(t);
      if (static_cast<int>(t) < static_cast<int>(best)) best = t;
    }
  }
  return best;
}

std::atomic<int>& active_slot() {
  // Initialised on first use; the environment is read exactly once.
  static std::atomic<int> slot{static_cast<int>(detect_best())};
  return slot;
}

}  // namespace

const char* target_name(Target target) {
  switch (target) {
    case Target::kBaseline:
      return "baseline";
    case Target::kNeon:
      return "neon";
    case Target::kAvx2:
      return "avx2";
    case Target::kAvx512:
      return "avx512";
  }
  return "unknown";
}

std::vector<Target> compiled_targets() {
  std::vector<Target> out;
  for (Target t : kAllTargets) {
    if (compiled(t)) out.push_back(t);
  }
  return out;
}

std::vector<Target> supported_targets() {
  std::vector<Target> out;
  for (Target t : compiled_targets()) {
    if (cpu_supports(t)) out.push_back(t);
  }
  return out;
}

Target active_target() { return static_cast<Target>(active_slot().load(std::memory_order_relaxed)); }

void force_target(const std::string& name) {
  const Target t = parse_target(name);
  require_runnable(t);
  active_slot().store(static_cast<int>(t), std::memory_order_relaxed);
}

}  // namespace fastloss
