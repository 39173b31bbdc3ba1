// torchvision's sigmoid_focal_loss, in logit space. Compiled once per SIMD target
// (FASTLOSS_TARGET_NS).
#include "kernels/elementwise_driver.hpp"
#include "kernels/loss_helpers.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

using loss_helpers::abs_of;

// The sign of torch's pow(q, gamma) for a negative base q: (-1)^gamma for an integer gamma,
// NaN otherwise (no real power). Exact for |gamma| < 2^23 (float), 2^52 (double).
template <class T>
FASTLOSS_INLINE T negative_base_sign(T gamma) {
  const T odd_part = abs_of(gamma - T(2) * math::detail::round_to_integer(gamma * T(0.5)));  // 0, 1 or a fraction
  return odd_part == T(0) ? T(1) : (odd_part == T(1) ? T(-1) : math::detail::quiet_nan<T>());
}

// options: alpha, gamma. With ce = BCE-with-logits(x, y) = y softplus(-x) + (1 - y) softplus(x)
// and q = 1 - p_t = y sigmoid(-x) + (1 - y) sigmoid(x):
//   loss = alpha_t ce q^gamma,  alpha_t = alpha y + (1 - alpha)(1 - y)  (1 when alpha < 0).
// q is a sum of two stably computed sigmoids instead of torchvision's 1 - p_t, which cancels
// to 0 for confident logits (|x| > 17 in float32). With dq/dx = (1 - 2y) sigmoid(x) sigmoid(-x),
//   d/dx = alpha_t (q^gamma (sigmoid(x) - y) + ce d(q^gamma)/dx),  d(q^gamma)/dx = gamma q^(gamma-1) dq/dx,
// the derivative of the loss for every real target. Targets outside [0, 1] can make q
// negative; q^gamma is then torch's pow: finite for an integer gamma, NaN otherwise.
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
        : alpha(static_cast<T>(p.options.alpha)),
          gamma(static_cast<T>(p.options.gamma)),
          negative_base(negative_base_sign(gamma)),
          slope_at_zero(gamma == T(1) ? T(1) : T(0)) {}
    T alpha, gamma;
    T negative_base;  // q^gamma / |q|^gamma for q < 0, once per call rather than per element
    T slope_at_zero;  // q^(gamma - 1) at q = 0: 1 for gamma = 1, else taken as 0
  };
  template <int kVariant, class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>& c) {
    constexpr int modulator_form = kVariant % kAlpha;
    LossGrad<T> lg;
    if constexpr (modulator_form == kNoFocus) {
      // gamma = 0: binary_cross_entropy_with_logits' own formula.
      lg = {math::mul_add(T(1) - y, x, -math::log_sigmoid(x)), math::sigmoid(x) - y};
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
      const T dq = (T(1) - T(2) * y) * (s * s_neg);
      // d ce / dx = sigmoid(x) - y, written without the cancellation.
      const T dce = (T(1) - y) * s - y * s_neg;
      // modulator = q^gamma and its derivative dmodulator. ce multiplies dmodulator last:
      // ce overflows nothing then (ce is up to |x| where dq underflows to 0, and gamma ce
      // alone would reach inf: inf * 0 = NaN).
      T modulator, dmodulator;
      if constexpr (modulator_form == kSquare) {
        modulator = q * q;  // torch's pow squares for gamma = 2
        dmodulator = T(2) * q * dq;
      } else {
        const T magnitude = math::exp(c.gamma * math::log(abs_of(q)));  // |q|^gamma, 0 at q = 0
        modulator = q < T(0) ? c.negative_base * magnitude : magnitude;
        // gamma q^(gamma - 1) dq as gamma q^gamma (dq / q): for targets in [0, 1], |dq| <= q, so
        // no inf * 0 arises where q underflows. At q = 0, q^(gamma - 1) is 1 for gamma = 1 and
        // taken as 0 otherwise (the limit for gamma > 1; below, the slope is unbounded).
        const bool q_nonzero = q != T(0);
        const T dq_over_q = q_nonzero ? dq / q : T(0);
        dmodulator = q_nonzero ? c.gamma * (modulator * dq_over_q) : c.slope_at_zero * dq;
      }
      lg = {ce * modulator, modulator * dce + ce * dmodulator};
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
