// torchvision's sigmoid_focal_loss, in logit space. Compiled once per SIMD target
// (FASTLOSS_TARGET_NS).
#include "kernels/elementwise_driver.hpp"
#include "kernels/loss_helpers.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

using loss_helpers::abs_of;

// params: alpha, gamma. With ce = BCE-with-logits(x, y) = y softplus(-x) + (1 - y) softplus(x)
// and q = 1 - p_t = y sigmoid(-x) + (1 - y) sigmoid(x):
//   loss = alpha_t ce q^gamma,  alpha_t = alpha y + (1 - alpha)(1 - y)  (1 when alpha < 0).
// q is a sum of two stably computed sigmoids instead of torchvision's 1 - p_t, which cancels
// to 0 for confident logits (|x| > 17 in float32). dq/dx = (1 - 2y) sigmoid(x) sigmoid(-x), so
//   d/dx = alpha_t q^gamma ((sigmoid(x) - y) + gamma ce (1 - 2y) sigmoid(x) sigmoid(-x) / q).
// ce as a sum of softplus terms keeps its digits where it is tiny (confident, correct logits),
// which (1 - y) x - log_sigmoid(x) cancels away; gamma = 0 uses that BCE-with-logits form
// instead, so it gives alpha_t times binary_cross_entropy_with_logits (bit for bit without
// FMA; targets with FMA may contract the product differently, one rounding apart).
struct SigmoidFocal : loss_helpers::PlainLoss {
  template <class T>
  struct Consts {
    explicit Consts(const kernel_abi::Params& p)
        : alpha(static_cast<T>(p.p[0])),
          gamma(static_cast<T>(p.p[1])),
          use_alpha(p.p[0] >= 0.0 ? T(1) : T(0)),
          focal(p.p[1] != 0.0 ? T(1) : T(0)),
          square(p.p[1] == 2.0 ? T(1) : T(0)) {}
    T alpha, gamma;
    T use_alpha, focal, square;  // 1 or 0: T-valued, as bool conditions keep the loop scalar
  };
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>& c) {
    const T alpha_t = c.use_alpha > T(0) ? c.alpha * y + (T(1) - c.alpha) * (T(1) - y) : T(1);
    // One exp and one log1p give both sigmoids and both softplus terms:
    // e = exp(-|x|), sigmoid(±|x|) = {1, e} / (1 + e), softplus(±x) = max(±x, 0) + log1p(e).
    const T a = abs_of(x);
    const T e = math::exp(-a);
    const T log1p_e = math::log1p(e);
    const T inv = T(1) / (T(1) + e);
    const bool nonneg = x >= T(0);
    const T s = nonneg ? inv : e * inv;
    const T s_neg = nonneg ? e * inv : inv;
    const T softplus_x = (nonneg ? x : T(0)) + log1p_e;
    const T softplus_neg_x = (nonneg ? T(0) : -x) + log1p_e;
    const T ce = y * softplus_neg_x + (T(1) - y) * softplus_x;
    const T q = y * s_neg + (T(1) - y) * s;
    // q^gamma: torch's pow squares for gamma = 2; otherwise exp(gamma log q), 0 at q = 0.
    const T modulator = c.square > T(0) ? q * q : math::exp(c.gamma * math::log(q));
    // sigmoid(x) sigmoid(-x) / q, finite as q -> 0 for hard labels.
    const T ds_over_q = q > T(0) ? s * s_neg / q : T(0);
    // d ce / dx = sigmoid(x) - y, written without the cancellation.
    const T dce = (T(1) - y) * s - y * s_neg;
    const T grad = alpha_t * modulator * (dce + c.gamma * ce * (T(1) - T(2) * y) * ds_over_q);
    // gamma = 0: binary_cross_entropy_with_logits' own formula, selected (not branched to) so
    // the loop stays branch-free and vectorises.
    const T bce = (T(1) - y) * x - math::log_sigmoid(x);
    const T bce_grad = math::sigmoid(x) - y;
    const bool focal = c.focal > T(0);
    return {focal ? alpha_t * (ce * modulator) : alpha_t * bce, focal ? grad : alpha_t * bce_grad};
  }
};

}  // namespace

FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(sigmoid_focal_loss, SigmoidFocal)

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
