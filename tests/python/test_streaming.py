"""LossAccumulator: the loss over batches equals the one-call loss over their concatenation for
every reduced loss and every option that changes the denominator; merges in any order and
pickled states give bitwise the same result; torch's NaN when every target is ignored."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import fastloss
import fastloss.functional as F
from fastloss import LossAccumulator
from fastloss.streaming import ExactSum
from reliability_specs import LOSSES

ROWS = 13
BOUNDS = (0, 3, 3, 8, 13)  # four batches, one of them empty
BATCH_AXIS = {"log_probs": 1}  # ctc_loss's (T, N, C); every other operand's batch axis is its first


def _per_batch(spec, kwargs):
    """The arguments split into per-batch arrays (a row each along their batch axis) and the
    options every batch shares (scalars, per-class arrays)."""
    batch, options = {}, {}
    for name, value in kwargs.items():
        axis = BATCH_AXIS.get(name, 0)
        per_row = (isinstance(value, np.ndarray) and value.ndim > axis and value.shape[axis] == ROWS
                   and name not in spec.per_class)
        (batch if per_row else options)[name] = value
    return batch, options


def rows(batch, start, stop):
    """The batch arrays' rows start..stop along their batch axes."""
    return {name: np.take(value, np.arange(start, stop), axis=BATCH_AXIS.get(name, 0))
            for name, value in batch.items()}


def _reductions(spec):
    return ("mean", "sum", "batchmean") if spec.name == "kl_div" else ("mean", "sum")


def _accumulate(spec, batch, options, reduction, bounds=BOUNDS):
    acc = LossAccumulator(spec.name, reduction=reduction, **options)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        acc.update(**rows(batch, start, stop))
    return acc


CASES = [(spec, reduction) for spec in LOSSES for reduction in _reductions(spec)]


@pytest.mark.parametrize("spec, reduction", CASES, ids=[f"{s.name}-{r}" for s, r in CASES])
def test_batches_give_the_one_call_loss_of_their_concatenation(spec, reduction, dtype):
    kwargs = spec.make(np.random.default_rng(3), dtype, (ROWS, 5))
    batch, options = _per_batch(spec, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div's "mean" warning
        expected = float(getattr(F, spec.name)(**kwargs, reduction=reduction))
        acc = _accumulate(spec, batch, options, reduction)
    assert acc.batches == len(BOUNDS) - 1
    # float64: the batches' sums differ from the one call's only in float64 rounding;
    # float32: the one-call loss is rounded to float32 at the end, the accumulator is not.
    rtol = 1e-12 if dtype == np.float64 else 2e-7
    np.testing.assert_allclose(acc.result(), expected, rtol=rtol, atol=1e-300)


@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
def test_merge_order_grouping_threads_and_pickling_give_bitwise_the_same_result(spec):
    kwargs = spec.make(np.random.default_rng(4), np.float32, (ROWS, 5))
    batch, options = _per_batch(spec, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = _accumulate(spec, batch, options, "mean").result()
        halves = [_accumulate(spec, rows(batch, a, b), options, "mean", (0, b - a))
                  for a, b in ((0, 3), (3, 8), (8, 13))]
        threads = fastloss.get_num_threads()
        try:
            fastloss.set_num_threads(1)
            one_thread = _accumulate(spec, batch, options, "mean").result()
        finally:
            fastloss.set_num_threads(threads)
    forward = pickle.loads(pickle.dumps(halves[0])).merge(halves[1]).merge(halves[2])
    backward = LossAccumulator.from_state(halves[2].state()).merge(halves[1]).merge(halves[0])
    for result in (forward.result(), backward.result(), one_thread):
        assert result == whole or (np.isnan(result) and np.isnan(whole))
    assert forward.batches == 3


def test_class_weights_and_ignored_targets_use_torchs_denominator_over_the_whole_stream():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((40, 7))
    target = rng.integers(0, 7, 40)
    target[::3] = -100
    target[:10] = -100  # a first batch with every target ignored
    weight = rng.uniform(0.5, 2.0, 7)
    acc = LossAccumulator("cross_entropy", weight=weight, label_smoothing=0.1)
    for start in range(0, 40, 10):
        acc.update(logits[start:start + 10], target[start:start + 10])
    expected = F.cross_entropy(logits, target, weight=weight, label_smoothing=0.1)
    np.testing.assert_allclose(acc.result(), expected, rtol=1e-12)


def test_every_target_ignored_is_nan_as_torch_and_no_batch_is_nan():
    acc = LossAccumulator("nll_loss")
    acc.update(np.zeros((4, 3)), np.full(4, -100))
    assert np.isnan(acc.result()) and np.isnan(F.nll_loss(np.zeros((4, 3)), np.full(4, -100)))
    assert np.isnan(LossAccumulator("mse_loss").result())
    assert LossAccumulator("mse_loss", reduction="sum").result() == 0.0


def test_kl_div_batchmean_divides_by_the_total_batch_size():
    rng = np.random.default_rng(6)
    log_p = np.log(rng.dirichlet(np.ones(4), 30))
    q = rng.dirichlet(np.ones(4), 30)
    acc = LossAccumulator("kl_div", reduction="batchmean", log_target=False)
    for start in (0, 7, 20):
        stop = {0: 7, 7: 20, 20: 30}[start]
        acc.update(log_p[start:stop], q[start:stop])
    np.testing.assert_allclose(acc.result(), F.kl_div(log_p, q, reduction="batchmean"), rtol=1e-12)


def test_exact_sum_is_order_independent_where_float_addition_is_not():
    values = [1e16, 1.0, -1e16, 3.0, 1e-8, 2.5e15, -2.5e15]
    forward, backward = ExactSum(values), ExactSum(values[::-1])
    assert forward.value() == backward.value() == 4.00000001
    assert sum(values) != sum(values[::-1])  # what plain float64 addition gives
    assert np.isnan(ExactSum([1.0, np.inf, -np.inf]).value())
    assert ExactSum([1.0, np.inf]).value() == np.inf


def test_bad_arguments():
    with pytest.raises(ValueError, match="needs a reduction"):
        LossAccumulator("mse_loss", reduction="none")
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        LossAccumulator("mse_loss", reduction="avg")
    with pytest.raises(ValueError, match="unknown loss 'mse'"):
        LossAccumulator("mse")
    with pytest.raises(TypeError, match="unexpected keyword argument 'margin'"):
        LossAccumulator("mse_loss", margin=1.0)
    acc = LossAccumulator("mse_loss")
    with pytest.raises(TypeError, match="missing required argument 'target'"):
        acc.update(np.ones(3))
    with pytest.raises(TypeError, match="unexpected keyword argument 'var'"):
        acc.update(np.ones(3), np.ones(3), var=np.ones(3))
    with pytest.raises(ValueError, match="same loss, reduction and options"):
        acc.merge(LossAccumulator("mse_loss", reduction="sum"))
    with pytest.raises(ValueError, match="same loss, reduction and options"):
        LossAccumulator("cross_entropy", weight=np.ones(3)).merge(LossAccumulator("cross_entropy", weight=np.ones(3) * 2))
    with pytest.raises(ValueError, match="label_smoothing"):
        LossAccumulator("cross_entropy", label_smoothing=2.0).update(np.zeros((2, 3)), np.zeros(2, np.int64))
    assert acc.batches == 0  # nothing counted by the calls that raised
    assert "LossAccumulator('mse_loss', reduction='mean'; 0 batches)" == repr(acc)
