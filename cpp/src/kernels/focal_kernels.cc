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
  static constexpr bool kHasHessian = true;
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
  // The terms of the focused (gamma != 0) loss and its gradient at x.
  template <class T>
  struct Terms {
    T s, s_neg;              // sigmoid(x), sigmoid(-x)
    T ce, dce;               // BCE-with-logits and its derivative
    T q, dq;                 // 1 - p_t and its derivative
    T modulator, dmodulator;  // q^gamma and its derivative
  };
  template <int kModulatorForm, class T>
  static FASTLOSS_INLINE Terms<T> terms(T x, T y, const Consts<T>& c) {
    Terms<T> t;
    // e = exp(-|x|) gives both sigmoids, sigmoid(±|x|) = {1, e} / (1 + e); softplus(±x)
    // = max(±x, 0) + log1p(e) computes the same e and log1p(e), which the compiler shares.
    const T e = math::exp(-abs_of(x));
    const T inv = T(1) / (T(1) + e);
    const bool nonneg = x >= T(0);
    t.s = nonneg ? inv : e * inv;
    t.s_neg = nonneg ? e * inv : inv;
    t.ce = y * math::softplus(-x) + (T(1) - y) * math::softplus(x);
    t.q = y * t.s_neg + (T(1) - y) * t.s;
    t.dq = (T(1) - T(2) * y) * (t.s * t.s_neg);
    // d ce / dx = sigmoid(x) - y, written without the cancellation.
    t.dce = (T(1) - y) * t.s - y * t.s_neg;
    // ce multiplies dmodulator last: ce overflows nothing then (ce is up to |x| where dq
    // underflows to 0, and gamma ce alone would reach inf: inf * 0 = NaN).
    if constexpr (kModulatorForm == kSquare) {
      t.modulator = t.q * t.q;  // torch's pow squares for gamma = 2
      t.dmodulator = T(2) * t.q * t.dq;
    } else {
      const T magnitude = math::exp(c.gamma * math::log(abs_of(t.q)));  // |q|^gamma, 0 at q = 0
      t.modulator = t.q < T(0) ? c.negative_base * magnitude : magnitude;
      // gamma q^(gamma - 1) dq as gamma q^gamma (dq / q): for targets in [0, 1], |dq| <= q, so
      // no inf * 0 arises where q underflows. At q = 0, q^(gamma - 1) is 1 for gamma = 1 and
      // taken as 0 otherwise (the limit for gamma > 1; below, the slope is unbounded).
      t.dmodulator = t.q != T(0) ? c.gamma * (t.modulator * dq_over_q(t)) : c.slope_at_zero * t.dq;
    }
    return t;
  }
  // dq / q, 0 at q = 0 (bounded by 1 for targets in [0, 1]).
  template <class T>
  static FASTLOSS_INLINE T dq_over_q(const Terms<T>& t) {
    const bool q_nonzero = t.q != T(0);
    return q_nonzero ? t.dq / (q_nonzero ? t.q : T(1)) : T(0);
  }
  template <int kVariant, class T>
  static FASTLOSS_INLINE T alpha_factor(T y, const Consts<T>& c) {
    if constexpr (kVariant >= kAlpha) return c.alpha * y + (T(1) - c.alpha) * (T(1) - y);
    (void)y;
    (void)c;
    return T(1);
  }
  template <int kVariant, class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>& c) {
    constexpr int modulator_form = kVariant % kAlpha;
    LossGrad<T> lg;
    if constexpr (modulator_form == kNoFocus) {
      // gamma = 0: binary_cross_entropy_with_logits' own formula.
      lg = {math::mul_add(T(1) - y, x, -math::log_sigmoid(x)), math::sigmoid(x) - y};
    } else {
      const Terms<T> t = terms<modulator_form>(x, y, c);
      lg = {t.ce * t.modulator, t.modulator * t.dce + t.ce * t.dmodulator};
    }
    const T alpha_t = alpha_factor<kVariant>(y, c);
    return {lg.loss * alpha_t, lg.grad * alpha_t};
  }
  // d^2/dx^2 = alpha_t (m ce'' + 2 m' ce' + ce m''), ce'' = sigmoid(x) sigmoid(-x) = v,
  // q'' = q' (sigmoid(-x) - sigmoid(x)), m'' = gamma m r ((gamma - 1) r + q'' / q') with r = q' / q
  // (bounded where q underflows; 2 (q'^2 + q q'') for gamma = 2). For gamma > 0 it is negative where
  // the logit is confidently wrong (the loss grows about linearly there and is concave; x > 3 for y = 0
  // with gamma = 2): the objectives' hess_floor bounds it.
  template <int kVariant, class T>
  static FASTLOSS_INLINE T hess(T x, T y, T, const Consts<T>& c) {
    constexpr int modulator_form = kVariant % kAlpha;
    T h;
    if constexpr (modulator_form == kNoFocus) {
      h = loss_helpers::logistic_curvature(x);
    } else {
      const Terms<T> t = terms<modulator_form>(x, y, c);
      const T v = t.s * t.s_neg;
      const T spread = t.s_neg - t.s;  // v' / v = q'' / q'
      const T d2q = t.dq * spread;
      T d2modulator;
      if constexpr (modulator_form == kSquare) {
        d2modulator = T(2) * (t.dq * t.dq + t.q * d2q);
      } else {
        const T r = dq_over_q(t);
        d2modulator = t.q != T(0) ? c.gamma * (t.modulator * r) * ((c.gamma - T(1)) * r + spread)
                                  : c.slope_at_zero * d2q;
      }
      h = t.modulator * v + T(2) * (t.dmodulator * t.dce) + t.ce * d2modulator;
    }
    return h * alpha_factor<kVariant>(y, c);
  }
};

}  // namespace

FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(sigmoid_focal_loss, SigmoidFocal)

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
