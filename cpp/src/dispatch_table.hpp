// The one dispatch mechanism: dispatch::<family>() is the running target's object of a
// kernel family (kernels/families.hpp), looked up on every call, so force_target() between
// calls takes effect. Baseline (dispatcher) code only: it names every target's symbols.
#pragma once

#ifdef FASTLOSS_TARGET_NS
#error "dispatch_table.hpp is for the dispatcher; per-target sources include kernels/families.hpp"
#endif

#include "fastloss/array.hpp"
#include "fastloss/dispatch.hpp"
#include "kernels/families.hpp"
#include "kernels/target_macros.hpp"

namespace fastloss {

#define FASTLOSS_DECLARE_TARGET_FAMILIES(ns, enumerator, unused) \
  namespace ns {                                                 \
  FASTLOSS_KERNEL_FAMILIES(FASTLOSS_DECLARE_FAMILY)              \
  }
FASTLOSS_FOR_EACH_COMPILED_TARGET(FASTLOSS_DECLARE_TARGET_FAMILIES, )
#undef FASTLOSS_DECLARE_TARGET_FAMILIES

namespace dispatch {

// Each compiled target's object of one family, indexed by Target (null where not compiled).
template <class Family>
struct PerTarget {
  const Family* entries[kNumTargets] = {};
};

#define FASTLOSS_TARGET_ENTRY(ns, enumerator, name) \
  table.entries[static_cast<int>(Target::enumerator)] = &::fastloss::ns::name;
#define FASTLOSS_DEFINE_DISPATCH(type, name)                                   \
  inline const type& name() {                                                  \
    static const PerTarget<type> targets = [] {                                \
      PerTarget<type> table;                                                   \
      FASTLOSS_FOR_EACH_COMPILED_TARGET(FASTLOSS_TARGET_ENTRY, name)         \
      return table;                                                            \
    }();                                                                       \
    return *targets.entries[static_cast<int>(active_target())];                \
  }
FASTLOSS_KERNEL_FAMILIES(FASTLOSS_DEFINE_DISPATCH)
#undef FASTLOSS_DEFINE_DISPATCH
#undef FASTLOSS_TARGET_ENTRY

// A family object's kernels for the float type T (its f32 or f64 member).
template <class T, class Family>
const auto& for_type(const Family& family) {
  if constexpr (sizeof(T) == 4)
    return family.f32;
  else
    return family.f64;
}

}  // namespace dispatch

// Calls f(T{}) with T the float type of `dtype`.
template <class F>
auto with_dtype(DType dtype, F&& f) {
  return dtype == DType::kFloat32 ? f(float{}) : f(double{});
}

}  // namespace fastloss
