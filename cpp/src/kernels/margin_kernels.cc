// Margin losses on ±1 labels: soft_margin_loss, hinge_embedding_loss, margin_ranking_loss.
// Compiled once per SIMD target (FASTLOSS_TARGET_NS); formulas and the gradient at the
// hinge points follow PyTorch 2.13 (clamp_min passes the gradient where its argument is >= 0).
#include "kernels/elementwise_driver.hpp"
#include "kernels/loss_helpers.hpp"

namespace fastloss {
namespace FASTLOSS_TARGET_NS {
namespace {

using loss_helpers::clamp_min;

// loss = log(1 + exp(-y x)) = softplus(-y x), d/dx = -y sigmoid(-y x),
// d^2/dx^2 = y^2 sigmoid(y x) sigmoid(-y x).
struct SoftMargin : loss_helpers::PlainLoss {
  static constexpr bool kHasHessian = true;
  template <class T>
  static FASTLOSS_INLINE T hess(T x, T y, T, const Consts<T>&) {
    return (y * y) * loss_helpers::logistic_curvature(y * x);
  }
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>&) {
    const T z = -y * x;
    return {math::softplus(z), -y * math::sigmoid(z)};
  }
};

// options: margin. loss = [y != -1] x + [y != 1] max(0, margin - x): labels other than ±1 get
// both terms, as in torch.
struct HingeEmbedding : loss_helpers::PlainLoss {
  template <class T>
  struct Consts {
    explicit Consts(const kernel_abi::Params& p) : margin(static_cast<T>(p.options.margin)) {}
    T margin;
  };
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x, T y, T, const Consts<T>& c) {
    const T slack = c.margin - x;
    const bool margin_term = y != T(1);
    const bool self_term = y != T(-1);
    const T loss = (margin_term ? clamp_min(slack, T(0)) : T(0)) + (self_term ? x : T(0));
    const T grad = (margin_term && slack >= T(0) ? T(-1) : T(0)) + (self_term ? T(1) : T(0));
    return {loss, grad};
  }
};

// aux = input2, options: margin. loss = max(0, -y (x1 - x2) + margin); d/dx1 = -y where the
// argument is >= 0 (d/dx2 is its negation, taken by the caller). As in torch's chain rule, the
// hinge's 0/1 slope multiplies -y, so a NaN or infinite label reaches the gradient even where
// the hinge is flat (0 * NaN = 0 * inf = NaN).
struct MarginRanking : loss_helpers::PlainLoss {
  static constexpr bool kUsesAux = true;
  template <class T>
  struct Consts {
    explicit Consts(const kernel_abi::Params& p) : margin(static_cast<T>(p.options.margin)) {}
    T margin;
  };
  template <class T>
  static FASTLOSS_INLINE LossGrad<T> eval(T x1, T y, T x2, const Consts<T>& c) {
    const T arg = -y * (x1 - x2) + c.margin;
    const T hinge_slope = arg >= T(0) ? T(1) : T(0);
    return {clamp_min(arg, T(0)), hinge_slope * -y};
  }
};

}  // namespace

FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(soft_margin_loss, SoftMargin)
FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(hinge_embedding_loss, HingeEmbedding)
FASTLOSS_DEFINE_ELEMENTWISE_KERNEL(margin_ranking_loss, MarginRanking)

}  // namespace FASTLOSS_TARGET_NS
}  // namespace fastloss
