// Regression losses: MSE, L1, smooth L1, Huber, Poisson and Gaussian NLL, log-cosh. Compiled
// once per SIMD target (FASTLOSS_TARGET_NS).
#include "kernels/elementwise_driver.hpp"
#include "kernels/loss_helpers.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

using loss_helpers::abs_of;
using loss_helpers::clamp_min;
using loss_helpers::sign_of;

// loss = (x - y)^2, d/dx = 2 (x - y), d^2/dx^2 = 2 (NaN where x - y is).
struct MeanSquaredError : loss_helpers::PlainLoss {
  static constexpr bool kHasHessian = true;
  template <class T>
  static FASTLOSS_INLINE T hess(T x, T y, T, const Consts<T>&) {
    return loss_helpers::nan_or(x - y, T(2));
  }
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>&) {
    const T d = x - y;
    return {d * d, T(2) * d};
  }
};

// loss = |x - y|, d/dx = sign(x - y) (0 at x = y, as torch).
struct AbsoluteError : loss_helpers::PlainLoss {
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>&) {
    const T d = x - y;
    return {abs_of(d), sign_of(d)};
  }
};

// options: beta. loss = 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; d/dx = d / beta
// inside, sign(d) outside. As in torch, the outside is |d| >= beta, so a NaN difference takes
// the quadratic branch and its gradient stays NaN. beta = 0 is L1 (torch calls l1_loss): only
// a NaN difference is then inside, and its gradient is L1's sign(NaN) = 0. d^2/dx^2 = 1 / beta
// inside, 0 outside (and everywhere for beta = 0); NaN for a NaN difference.
struct SmoothL1 : loss_helpers::PlainLoss {
  static constexpr bool kHasHessian = true;
  template <class T>
  struct Consts {
    explicit Consts(const kernel_abi::Params& p)
        : beta(static_cast<T>(p.options.beta)), half_beta(static_cast<T>(0.5 * p.options.beta)) {}
    T beta, half_beta;
  };
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>& c) {
    const T d = x - y;
    const T a = abs_of(d);
    const bool outside = a >= c.beta;
    // beta divides only inside, where it is > 0 but for a NaN d with beta = 0.
    const T safe_beta = outside ? T(1) : c.beta;
    const T quadratic_grad = c.beta > T(0) ? d / safe_beta : T(0);
    return {outside ? a - c.half_beta : T(0.5) * d * d / safe_beta, outside ? sign_of(d) : quadratic_grad};
  }
  template <class T>
  static FASTLOSS_INLINE T hess(T x, T y, T, const Consts<T>& c) {
    const T d = x - y;
    return loss_helpers::nan_or(d, abs_of(d) < c.beta ? T(1) / c.beta : T(0));
  }
};

// options: delta. loss = 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta);
// d/dx = d inside, delta sign(d) outside. As in torch, the outside is |d| >= delta, so a NaN
// difference takes the quadratic branch and its gradient stays NaN. d^2/dx^2 = 1 inside, 0
// outside (NaN for a NaN difference).
struct Huber : loss_helpers::PlainLoss {
  static constexpr bool kHasHessian = true;
  template <class T>
  struct Consts {
    explicit Consts(const kernel_abi::Params& p)
        : delta(static_cast<T>(p.options.delta)), half_delta(static_cast<T>(0.5 * p.options.delta)) {}
    T delta, half_delta;
  };
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>& c) {
    const T d = x - y;
    const T a = abs_of(d);
    const bool outside = a >= c.delta;
    return {outside ? c.delta * (a - c.half_delta) : T(0.5) * d * d,
            outside ? c.delta * sign_of(d) : d};
  }
  template <class T>
  static FASTLOSS_INLINE T hess(T x, T y, T, const Consts<T>& c) {
    const T d = x - y;
    return loss_helpers::nan_or(d, abs_of(d) < c.delta ? T(1) : T(0));
  }
};

// options: log_input, full, eps. log_input: loss = exp(x) - y x, d/dx = exp(x) - y; else
// loss = x - y log(x + eps), d/dx = 1 - y / (x + eps). full adds Stirling's
// y log y - y + 0.5 log(2 pi y) where y > 1, which does not depend on x. d^2/dx^2 = exp(x)
// (log_input), else y / (x + eps)^2.
struct PoissonNll : loss_helpers::PlainLoss {
  static constexpr bool kHasHessian = true;
  // Variant bits: 1 = log_input, 2 = full (each computes only its own transcendentals).
  static constexpr int kLogInput = 1, kFull = 2;
  static constexpr int kVariants = 4;
  static int variant(const kernel_abi::Params& p) {
    return (p.options.log_input ? kLogInput : 0) | (p.options.full ? kFull : 0);
  }
  template <class T>
  struct Consts {
    explicit Consts(const kernel_abi::Params& p) : eps(static_cast<T>(p.options.eps)) {}
    T eps;
  };
  template <int kVariant, class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>& c) {
    LossGrad<T> lg;
    if constexpr ((kVariant & kLogInput) != 0) {
      const T e = math::exp(x);
      lg = {e - y * x, e - y};
    } else {
      const T shifted = x + c.eps;
      lg = {x - y * math::log(shifted), T(1) - y / shifted};
    }
    if constexpr ((kVariant & kFull) != 0) {
      const T two_pi = static_cast<T>(6.283185307179586476925286766559);
      const T stirling = y * math::log(y) - y + T(0.5) * math::log(two_pi * y);
      lg.loss += y > T(1) ? stirling : T(0);
    }
    return lg;
  }
  template <int kVariant, class T>
  static FASTLOSS_INLINE T hess(T x, T y, T, const Consts<T>& c) {
    if constexpr ((kVariant & kLogInput) != 0) {
      (void)y;
      return math::exp(x);
    } else {
      const T shifted = x + c.eps;
      return y / (shifted * shifted);
    }
  }
};

// aux = var, options: full, eps, var_gradient. v = max(var, eps) (torch clamps a copy without
// recording it, so the gradient flows to var unclamped); loss = 0.5 (log v + d^2 / v)
// (+ 0.5 log(2 pi) when full). The gradient is d/dx = d / v, or d/dvar = 0.5 (1 - d^2 / v) / v
// with var_gradient (a variant: each gradient gets its own loops). A negative var is
// rejected; NaN passes, as in torch.
struct GaussianNll : loss_helpers::PlainLoss {
  static constexpr bool kUsesAux = true;
  template <class T>
  static FASTLOSS_INLINE bool valid_aux(T var) {
    return !(var < T(0));
  }
  static constexpr int kVariants = 2;  // 1: var_gradient
  static int variant(const kernel_abi::Params& p) { return p.options.var_gradient ? 1 : 0; }
  template <class T>
  struct Consts {
    explicit Consts(const kernel_abi::Params& p)
        : constant(static_cast<T>(p.options.full ? 0.91893853320467274178032973640562 : 0.0)),
          eps(static_cast<T>(p.options.eps)) {}
    T constant, eps;
  };
  template <int kVarGradient, class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T var, const Consts<T>& c) {
    const T v = clamp_min(var, c.eps);
    const T d = x - y;
    const T d2_over_v = d * d / v;
    const T loss = T(0.5) * (math::log(v) + d2_over_v) + c.constant;
    return {loss, kVarGradient != 0 ? T(0.5) * (T(1) - d2_over_v) / v : d / v};
  }
};

// loss = log(cosh(d)), d/dx = tanh(d), d = x - y: quadratic near 0, linear far from it, and
// finite for every finite d. Below |d| = 1, log(cosh d) = log1p(2 sinh^2(d / 2)) keeps full
// relative accuracy (the forms below cancel to d^2 / 2); above, |d| + log1p(exp(-2|d|)) - ln 2
// cannot overflow. tanh(|d|) = -m / (2 + m), m = expm1(-2|d|), is accurate at 0 and at inf.
struct LogCosh : loss_helpers::PlainLoss {
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>&) {
    const T d = x - y;
    const T a = abs_of(d);
    const T m = math::expm1(T(-2) * a);
    const T h = math::expm1(T(0.5) * a);                     // sinh(a / 2) = h (h + 2) / (2 (1 + h))
    const T sinh_half = h * (h + T(2)) / (T(2) * (T(1) + h));
    const T near = math::log1p(T(2) * sinh_half * sinh_half);
    const T far = (a + math::log1p(T(1) + m)) - static_cast<T>(0.69314718055994530942);
    return {a < T(1) ? near : far, sign_of(d) * (-m / (T(2) + m))};
  }
};

}  // namespace

FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(mse_loss, MeanSquaredError)
FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(l1_loss, AbsoluteError)
FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(smooth_l1_loss, SmoothL1)
FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(huber_loss, Huber)
FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(poisson_nll_loss, PoissonNll)
FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(gaussian_nll_loss, GaussianNll)
FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(log_cosh_loss, LogCosh)

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
