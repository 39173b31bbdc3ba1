// Kullback-Leibler divergence (kl_div). Compiled once per SIMD target (FASTLOSS_TARGET_NS).
#include "kernels/elementwise_driver.hpp"
#include "kernels/loss_helpers.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

// params: log_target. x is a log-probability. Without log_target:
// loss = xlogy(y, y) - y x (0 where y = 0, NaN where y < 0), d/dx = -y; with log_target:
// loss = exp(y) (y - x), d/dx = -exp(y).
struct KlDivergence : loss_helpers::PlainLoss {
  template <class T>
  struct Consts {
    explicit Consts(const kernel_abi::Params& p) : log_target(p.p[0] != 0.0 ? T(1) : T(0)) {}
    T log_target;  // 1 or 0: a T-valued flag, since a bool condition keeps the loop scalar
  };
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>& c) {
    // Both forms are computed and selected, so the loop stays branch-free and vectorises.
    const T p = math::exp(y);
    const T y_log_y = y == T(0) ? T(0) : y * math::log(y);
    const bool log_target = c.log_target > T(0);
    return {log_target ? p * (y - x) : y_log_y - y * x, log_target ? -p : -y};
  }
};

}  // namespace

FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(kl_div, KlDivergence)

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
