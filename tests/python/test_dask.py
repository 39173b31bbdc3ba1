"""fastloss.dask equals the NumPy path for every loss (values, reduction='none', gradients),
on the threaded scheduler and on a real distributed cluster of processes, the same on
repeated runs and any worker count; rows chunked across their axis are rechunked with a
warning; a missing Dask says how to install it."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import fastloss.functional as F
from conftest import optional_import_message
from reliability_specs import LOSSES
from test_streaming import ROWS, _per_batch, _reductions

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
import fastloss.dask as FD  # noqa: E402


def _chunked(spec, kwargs, rows_per_chunk=4):
    batch, options = _per_batch(spec, kwargs)
    chunked = {k: da.from_array(v, chunks=(rows_per_chunk,) + v.shape[1:]) for k, v in batch.items()}
    return {**options, **chunked}


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


# ctc_loss's batch axis is log_probs' second and its targets are ragged: fastloss.dask refuses it
# (test_ctc_is_refused_with_the_streaming_alternative); LossAccumulator covers it.
DASK_LOSSES = [spec for spec in LOSSES if spec.name != "ctc_loss"]
CASES = [(spec, r) for spec in DASK_LOSSES for r in (*_reductions(spec), "none")]


@pytest.mark.parametrize("spec, reduction", CASES, ids=[f"{s.name}-{r}" for s, r in CASES])
def test_values_and_gradients_equal_the_numpy_path(spec, reduction):
    kwargs = {**spec.make(np.random.default_rng(7), np.float64, (ROWS, 5)), "reduction": reduction}
    lazy = _chunked(spec, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = getattr(F, spec.name)(**kwargs)
        actual = getattr(FD, spec.name)(**lazy)
        go = 1.5 if reduction != "none" else np.random.default_rng(8).uniform(0.5, 1.5, np.shape(expected))
        expected_grads = _as_tuple(getattr(F, spec.name + "_backward")(go, **kwargs))
        actual_grads = _as_tuple(getattr(FD, spec.name + "_backward")(
            go if reduction != "none" else da.from_array(go, chunks=4), **lazy))
        fused = getattr(FD, spec.name + "_with_grad")(**lazy)
        computed = dask.compute(actual, *actual_grads, *fused, scheduler="threads")
    value, grads, fused_value = computed[0], computed[1:1 + len(actual_grads)], computed[1 + len(actual_grads)]
    assert isinstance(actual, da.Array)
    assert value.dtype == np.float64 and value.shape == np.shape(expected)
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(fused_value, expected, rtol=1e-12, atol=1e-300)
    for got, want in zip(grads, expected_grads):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_same_value_on_repeated_runs_and_any_worker_count():
    rng = np.random.default_rng(9)
    logits = da.from_array(rng.standard_normal((1000, 10)).astype(np.float32), chunks=(64, 10))
    target = da.from_array(rng.integers(0, 10, 1000), chunks=64)
    loss = FD.cross_entropy(logits, target, label_smoothing=0.1)
    results = {loss.compute(scheduler="threads", num_workers=n).tobytes() for n in (1, 2, 4, 4)}
    results.add(loss.compute(scheduler="sync").tobytes())
    assert len(results) == 1


def test_the_class_axis_is_rechunked_with_a_warning():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((20, 12))
    t = rng.integers(0, 12, 20)
    with pytest.warns(UserWarning, match="chunked along axis 1.*rechunking"):
        lazy = FD.cross_entropy(da.from_array(x, chunks=(5, 4)), da.from_array(t, chunks=5))
    np.testing.assert_allclose(lazy.compute(), F.cross_entropy(x, t), rtol=1e-12)


def test_a_distributed_cluster_of_processes_gives_the_same_value():
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4000, 8))
    y = (rng.random((4000, 8)) > 0.5).astype(np.float64)
    lazy = FD.binary_cross_entropy_with_logits(da.from_array(x, chunks=(500, 8)), da.from_array(y, chunks=(500, 8)))
    local = lazy.compute(scheduler="threads")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = client.compute(lazy).result()
        threads = client.run(lambda: __import__("fastloss").get_num_threads())
    assert remote.tobytes() == local.tobytes()
    np.testing.assert_allclose(remote, F.binary_cross_entropy_with_logits(x, y), rtol=1e-12)
    assert len(threads) == 2


def test_import_fastloss_does_not_import_dask_and_a_missing_dask_says_how_to_install():
    assert "pip install fastloss[dask]" in optional_import_message("dask", "dask")


def test_the_zarr_evaluation_example_runs_on_a_cluster_and_agrees_with_numpy():
    pytest.importorskip("zarr")
    pytest.importorskip("distributed")
    example = Path(__file__).resolve().parents[2] / "examples" / "dask_evaluation.py"
    result = subprocess.run([sys.executable, str(example), "--rows", "20000", "--classes", "30", "--chunk-rows", "4096",
                             "--check"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agrees" in result.stdout and "mean loss" in result.stdout


def test_ctc_is_refused_with_the_streaming_alternative():
    with pytest.raises(NotImplementedError, match="LossAccumulator"):
        FD.ctc_loss(da.zeros((8, 2, 5)), np.ones((2, 3), np.int64), [8, 8], [3, 3])
