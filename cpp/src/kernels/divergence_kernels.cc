// Kullback-Leibler divergence (kl_div). Compiled once per SIMD target (FASTLOSS_TARGET_NS).
#include "kernels/elementwise_driver.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

// params: log_target. x is a log-probability. Without log_target:
// loss = xlogy(y, y) - y x (0 where y = 0, NaN where y < 0), d/dx = -y; with log_target:
// loss = exp(y) (y - x), d/dx = -exp(y).
struct KlDivergence {
  static constexpr bool kUsesAux = false;
  static constexpr bool kValidates = false;
  template <class T>
  struct Consts {
    explicit Consts(const kernel_abi::Params& p) : log_target(p.p[0] != 0.0) {}
    bool log_target;
  };
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>& c) {
    if (c.log_target) {
      const T p = math::exp(y);
      return {p * (y - x), -p};
    }
    const T y_log_y = y == T(0) ? T(0) : y * math::log(y);
    return {y_log_y - y * x, -y};
  }
};

}  // namespace

FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(kl_div, KlDivergence)

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
