// torchvision's sigmoid_focal_loss, in logit space. Compiled once per SIMD target
// (FASTLOSS_TARGET_NS).
#include "kernels/elementwise_driver.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

// params: alpha, gamma. With ce = BCE-with-logits(x, y) = y softplus(-x) + (1 - y) softplus(x)
// and q = 1 - p_t = y sigmoid(-x) + (1 - y) sigmoid(x):
//   loss = alpha_t ce q^gamma,  alpha_t = alpha y + (1 - alpha)(1 - y)  (1 when alpha < 0).
// q is a sum of two stably computed sigmoids instead of torchvision's 1 - p_t, which cancels
// to 0 for confident logits (|x| > 17 in float32). dq/dx = (1 - 2y) sigmoid(x) sigmoid(-x), so
//   d/dx = alpha_t q^gamma ((sigmoid(x) - y) + gamma ce (1 - 2y) sigmoid(x) sigmoid(-x) / q).
// ce as a sum of softplus terms keeps its digits where it is tiny (confident, correct logits),
// which (1 - y) x - log_sigmoid(x) cancels away; gamma = 0 uses that BCE-with-logits form
// instead, so it gives alpha_t times binary_cross_entropy_with_logits bit for bit.
struct SigmoidFocal {
  static constexpr bool kUsesAux = false;
  static constexpr bool kValidates = false;
  template <class T>
  struct Consts {
    explicit Consts(const kernel_abi::Params& p)
        : alpha(static_cast<T>(p.p[0])), gamma(static_cast<T>(p.p[1])), use_alpha(p.p[0] >= 0.0) {}
    T alpha, gamma;
    bool use_alpha;
  };
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>& c) {
    const T s = math::sigmoid(x);
    const T s_neg = math::sigmoid(-x);
    const bool focal = c.gamma != T(0);
    const T ce = focal ? y * math::softplus(-x) + (T(1) - y) * math::softplus(x)
                       : (T(1) - y) * x - math::log_sigmoid(x);
    const T q = y * s_neg + (T(1) - y) * s;
    // q^gamma through exp(gamma log q): exp(-inf) = 0 covers q = 0.
    const T modulator = focal ? math::exp(c.gamma * math::log(q)) : T(1);
    // sigmoid(x) sigmoid(-x) / q, finite as q -> 0 for hard labels; the term is 0 when gamma is.
    const T ds_over_q = focal && q > T(0) ? s * s_neg / q : T(0);
    const T alpha_t = c.use_alpha ? c.alpha * y + (T(1) - c.alpha) * (T(1) - y) : T(1);
    // d ce / dx = sigmoid(x) - y, as (1 - y) sigmoid(x) - y sigmoid(-x) when focal: no cancellation.
    const T dce = focal ? (T(1) - y) * s - y * s_neg : s - y;
    const T grad = alpha_t * modulator * (dce + c.gamma * ce * (T(1) - T(2) * y) * ds_over_q);
    return {alpha_t * (ce * modulator), grad};
  }
};

}  // namespace

FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(sigmoid_focal_loss, SigmoidFocal)

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
