// ctc_loss on every supported SIMD target against a long-double reference: the recursions
// in probability space (exact enough in long double for these small cases), per-sequence
// losses, the reductions, and the gradient from backward and from the fused pass. Cases:
// repeated labels (a blank between them is forced), an impossible alignment (+inf, zeroed by
// zero_infinity), empty targets, input length 0, sequences shorter than the batch's time.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "fastloss/ctc.hpp"
#include "per_target.hpp"

namespace {

using fastloss::CtcCall;
using fastloss::Reduction;
using LD = long double;

struct Problem {
  int64_t time = 9, batch = 5, classes = 4;
  std::vector<int64_t> targets;  // padded (batch, longest)
  int64_t longest = 4;
  std::vector<int64_t> input_lengths{9, 9, 3, 0, 6};
  std::vector<int64_t> target_lengths{4, 3, 3, 0, 0};
  std::vector<LD> log_probs;  // (time, batch, classes)
};

// Random normalised log-probabilities for every frame of every sequence.
void fill_log_probs(Problem& p, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, 1.5);
  p.log_probs.resize(static_cast<size_t>(p.time * p.batch * p.classes));
  for (int64_t row = 0; row < p.time * p.batch; ++row) {
    LD* x = &p.log_probs[static_cast<size_t>(row * p.classes)];
    LD total = 0;
    for (int64_t c = 0; c < p.classes; ++c) total += std::exp(x[c] = normal(rng));
    for (int64_t c = 0; c < p.classes; ++c) x[c] -= std::log(total);
  }
}

Problem make_problem() {
  Problem p;
  // Sequence 0 repeats a label; sequence 2 needs 5 frames for 3 labels with a repeat but has 3.
  p.targets = {1, 1, 2, 1, 3, 2, 3, 0, 2, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  std::mt19937_64 rng(7);
  fill_log_probs(p, rng);
  return p;
}

struct Reference {
  std::vector<LD> loss;  // per sequence
  std::vector<LD> grad;  // of each sequence's own loss, laid out like log_probs
};

Reference reference(const Problem& p) {
  Reference r{std::vector<LD>(static_cast<size_t>(p.batch)), std::vector<LD>(p.log_probs.size(), 0)};
  auto prob = [&](int64_t t, int64_t b, int64_t c) {
    return std::exp(p.log_probs[static_cast<size_t>((t * p.batch + b) * p.classes + c)]);
  };
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t time = p.input_lengths[b], states = 2 * p.target_lengths[b] + 1;
    std::vector<int64_t> ext(static_cast<size_t>(states), 0);
    for (int64_t i = 0; i < p.target_lengths[b]; ++i) ext[2 * i + 1] = p.targets[b * p.longest + i];
    if (time == 0) {
      r.loss[b] = states == 1 ? 0 : std::numeric_limits<LD>::infinity();
      continue;
    }
    std::vector<std::vector<LD>> alpha(time, std::vector<LD>(states, 0)), beta = alpha;
    auto may_skip = [&](int64_t s) { return s >= 2 && ext[s] != ext[s - 2]; };
    alpha[0][0] = prob(0, b, ext[0]);
    if (states > 1) alpha[0][1] = prob(0, b, ext[1]);
    for (int64_t t = 1; t < time; ++t)
      for (int64_t s = 0; s < states; ++s)
        alpha[t][s] = (alpha[t - 1][s] + (s > 0 ? alpha[t - 1][s - 1] : 0) + (may_skip(s) ? alpha[t - 1][s - 2] : 0)) *
                      prob(t, b, ext[s]);
    beta[time - 1][states - 1] = prob(time - 1, b, ext[states - 1]);
    if (states > 1) beta[time - 1][states - 2] = prob(time - 1, b, ext[states - 2]);
    for (int64_t t = time - 2; t >= 0; --t)
      for (int64_t s = 0; s < states; ++s)
        beta[t][s] = (beta[t + 1][s] + (s + 1 < states ? beta[t + 1][s + 1] : 0) +
                      (s + 2 < states && may_skip(s + 2) ? beta[t + 1][s + 2] : 0)) *
                     prob(t, b, ext[s]);
    const LD likelihood = alpha[time - 1][states - 1] + (states > 1 ? alpha[time - 1][states - 2] : 0);
    r.loss[b] = -std::log(likelihood);
    for (int64_t t = 0; t < time; ++t) {
      for (int64_t c = 0; c < p.classes; ++c) {
        LD occupancy = 0;
        for (int64_t s = 0; s < states; ++s)
          if (ext[s] == c) occupancy += alpha[t][s] * beta[t][s] / prob(t, b, c) / likelihood;
        r.grad[static_cast<size_t>((t * p.batch + b) * p.classes + c)] = prob(t, b, c) - occupancy;
      }
    }
  }
  return r;
}

class Ctc : public fastloss_test::PerTarget {};

template <class T>
void check(const Problem& p, bool zero_infinity) {
  const Reference ref = reference(p);
  const std::vector<T> log_probs(p.log_probs.begin(), p.log_probs.end());
  std::vector<int64_t> offsets;
  for (int64_t b = 0; b < p.batch; ++b) offsets.push_back(b * p.longest);
  CtcCall call;
  call.dtype = fastloss_test::dtype_of<T>();
  call.time = p.time;
  call.batch = p.batch;
  call.classes = p.classes;
  call.log_probs = log_probs.data();
  call.log_prob_strides[0] = p.batch * p.classes;
  call.log_prob_strides[1] = p.classes;
  call.log_prob_strides[2] = 1;
  call.targets = p.targets.data();
  call.target_offsets = offsets.data();
  call.input_lengths = p.input_lengths.data();
  call.target_lengths = p.target_lengths.data();
  call.zero_infinity = zero_infinity;
  EXPECT_EQ(fastloss::find_invalid_ctc_target(call).sequence, -1);
  // float32 recurses in float32 (as torch): the occupancies' exponents alpha + beta + nll
  // lose float32 ulps of |nll|, which grows with the time steps.
  const LD tol = sizeof(T) == 4 ? 2e-5L + 1e-6L * p.time : 1e-12L;

  // Each sequence's loss, and the sum and mean.
  std::vector<T> losses(static_cast<size_t>(p.batch));
  const int64_t one = 1;
  fastloss::ctc_loss_forward(call, Reduction::kNone, fastloss::MutableView{losses.data(), &one});
  LD sum = 0, mean = 0;
  for (int64_t b = 0; b < p.batch; ++b) {
    const LD expected = zero_infinity && std::isinf(ref.loss[b]) ? 0 : ref.loss[b];
    fastloss_test::expect_close(expected, losses[b], tol, "loss", static_cast<size_t>(b));
    sum += expected;
    mean += expected / std::max<int64_t>(p.target_lengths[b], 1) / p.batch;
  }
  fastloss_test::expect_close(sum, fastloss::ctc_loss_forward(call, Reduction::kSum, {}), tol, "sum", 0);
  fastloss_test::expect_close(mean, fastloss::ctc_loss_forward(call, Reduction::kMean, {}), tol, "mean", 0);
  EXPECT_TRUE(std::isinf(losses[2]) != zero_infinity) << "sequence 2 cannot align";
  EXPECT_TRUE(std::signbit(losses[3])) << "no frames and no labels: torch's -0";

  // The gradient of the sum, from backward and from the fused pass.
  const int64_t grad_strides[3] = {call.log_prob_strides[0], call.log_prob_strides[1], 1};
  std::vector<T> grad(log_probs.size()), fused(log_probs.size());
  fastloss::ctc_loss_backward(call, Reduction::kSum, {}, 1.0, fastloss::MutableView{grad.data(), grad_strides});
  fastloss::ctc_loss_forward_backward(call, Reduction::kSum, fastloss::MutableView{fused.data(), grad_strides}, {});
  for (size_t i = 0; i < grad.size(); ++i) {
    EXPECT_EQ(std::isnan(grad[i]), std::isnan(fused[i])) << i;
    if (!std::isnan(grad[i])) {
      EXPECT_EQ(grad[i], fused[i]) << i;
    }
    const int64_t b = static_cast<int64_t>(i) / p.classes % p.batch;
    if (b == 2) {  // an impossible alignment: NaN for its frames (torch's), else 0
      const int64_t t = static_cast<int64_t>(i) / p.classes / p.batch;
      if (zero_infinity || t >= p.input_lengths[b]) {
        EXPECT_EQ(grad[i], T(0)) << i;
      } else {
        EXPECT_TRUE(std::isnan(grad[i])) << i;
      }
      continue;
    }
    fastloss_test::expect_close(ref.grad[i], grad[i], tol, "grad", i);
  }
}

TEST_P(Ctc, MatchesLongDoubleReference) {
  const Problem p = make_problem();
  for (const bool zero_infinity : {false, true}) {
    check<float>(p, zero_infinity);
    check<double>(p, zero_infinity);
  }
}

TEST_P(Ctc, LongerTargetsAcrossVectorWidths) {
  // Target lengths whose 2 L + 1 states straddle every vector width (4 to 16 lanes).
  Problem p = make_problem();
  p.time = 40;
  p.batch = 5;
  p.classes = 6;
  p.longest = 17;
  p.input_lengths = {40, 39, 3, 0, 35};
  p.target_lengths = {17, 8, 3, 0, 3};
  std::mt19937_64 rng(3);
  p.targets.assign(static_cast<size_t>(p.batch * p.longest), 1);
  for (size_t i = 0; i < p.targets.size(); ++i) p.targets[i] = static_cast<int64_t>(rng() % 5) + 1;
  p.targets[2 * p.longest + 1] = p.targets[2 * p.longest];  // sequence 2: a repeat in 3 frames cannot align
  p.targets[2 * p.longest + 2] = p.targets[2 * p.longest];
  fill_log_probs(p, rng);
  check<double>(p, false);
  check<float>(p, true);
}

TEST_P(Ctc, LabelOutOfRange) {
  Problem p = make_problem();
  p.targets[1 * p.longest + 2] = 4;  // sequence 1's third label; classes = 4
  std::vector<int64_t> offsets;
  for (int64_t b = 0; b < p.batch; ++b) offsets.push_back(b * p.longest);
  CtcCall call;
  call.batch = p.batch;
  call.classes = p.classes;
  call.targets = p.targets.data();
  call.target_offsets = offsets.data();
  call.target_lengths = p.target_lengths.data();
  const fastloss::InvalidCtcTarget bad = fastloss::find_invalid_ctc_target(call);
  EXPECT_EQ(bad.sequence, 1);
  EXPECT_EQ(bad.value, 4);
}

FASTLOSS_INSTANTIATE_PER_TARGET(Ctc);

}  // namespace
