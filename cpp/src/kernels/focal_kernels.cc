// torchvision's sigmoid_focal_loss, in logit space. Compiled once per SIMD target
// (FASTLOSS_TARGET_NS).
#include "kernels/elementwise_driver.hpp"
#include "kernels/loss_helpers.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

using loss_helpers::abs_of;

// options: alpha, gamma. With ce = BCE-with-logits(x, y) = y softplus(-x) + (1 - y) softplus(x)
// and q = 1 - p_t = y sigmoid(-x) + (1 - y) sigmoid(x):
//   loss = alpha_t ce q^gamma,  alpha_t = alpha y + (1 - alpha)(1 - y)  (1 when alpha < 0).
// q is a sum of two stably computed sigmoids instead of torchvision's 1 - p_t, which cancels
// to 0 for confident logits (|x| > 17 in float32). dq/dx = (1 - 2y) sigmoid(x) sigmoid(-x), so
//   d/dx = alpha_t q^gamma ((sigmoid(x) - y) + gamma ce (1 - 2y) sigmoid(x) sigmoid(-x) / q).
// ce as a sum of softplus terms keeps its digits where it is tiny (confident, correct logits),
// which (1 - y) x - log_sigmoid(x) cancels away; gamma = 0 uses that BCE-with-logits form
// instead, so it gives alpha_t times binary_cross_entropy_with_logits bit for bit.
struct SigmoidFocal : loss_helpers::PlainLoss {
  // Variants: the modulator's form (gamma = 0, gamma = 2, any other gamma) plus kAlpha when
  // alpha >= 0, so each option set computes only its own terms.
  static constexpr int kNoFocus = 0, kSquare = 1, kPower = 2, kAlpha = 3;
  static constexpr int kVariants = 6;
  static int variant(const kernel_abi::Params& p) {
    const int modulator = p.options.gamma == 0.0 ? kNoFocus : p.options.gamma == 2.0 ? kSquare : kPower;
    return modulator + (p.options.alpha >= 0.0 ? kAlpha : 0);
  }
  template <class T>
  struct Consts {
    explicit Consts(const kernel_abi::Params& p)
        : alpha(static_cast<T>(p.options.alpha)), gamma(static_cast<T>(p.options.gamma)) {}
    T alpha, gamma;
  };
  template <int kVariant, class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>& c) {
    constexpr int modulator_form = kVariant % kAlpha;
    LossGrad<T> lg;
    if constexpr (modulator_form == kNoFocus) {
      // gamma = 0: binary_cross_entropy_with_logits' own formula.
      lg = {(T(1) - y) * x - math::log_sigmoid(x), math::sigmoid(x) - y};
    } else {
      // e = exp(-|x|) gives both sigmoids, sigmoid(±|x|) = {1, e} / (1 + e); softplus(±x)
      // = max(±x, 0) + log1p(e) computes the same e and log1p(e), which the compiler shares.
      const T e = math::exp(-abs_of(x));
      const T inv = T(1) / (T(1) + e);
      const bool nonneg = x >= T(0);
      const T s = nonneg ? inv : e * inv;
      const T s_neg = nonneg ? e * inv : inv;
      const T softplus_x = math::softplus(x);
      const T softplus_neg_x = math::softplus(-x);
      const T ce = y * softplus_neg_x + (T(1) - y) * softplus_x;
      const T q = y * s_neg + (T(1) - y) * s;
      // q^gamma: torch's pow squares for gamma = 2; otherwise exp(gamma log q), 0 at q = 0.
      T modulator;
      if constexpr (modulator_form == kSquare)
        modulator = q * q;
      else
        modulator = math::exp(c.gamma * math::log(q));
      // sigmoid(x) sigmoid(-x) / q, finite as q -> 0 for hard labels.
      const T ds_over_q = q > T(0) ? s * s_neg / q : T(0);
      // d ce / dx = sigmoid(x) - y, written without the cancellation.
      const T dce = (T(1) - y) * s - y * s_neg;
      lg = {ce * modulator, modulator * (dce + c.gamma * ce * (T(1) - T(2) * y) * ds_over_q)};
    }
    if constexpr (kVariant >= kAlpha) {
      const T alpha_t = c.alpha * y + (T(1) - c.alpha) * (T(1) - y);
      lg.loss *= alpha_t;
      lg.grad *= alpha_t;
    }
    return lg;
  }
};

}  // namespace

FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(sigmoid_focal_loss, SigmoidFocal)

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
