"""Benchmark rows for the losses of issue 4 (elementwise and row-wise): fastloss against torch (and
torchvision's sigmoid focal formula written in torch ops), float32, reduction="mean",
forward and fused forward+backward, median of repeats, results checked before timing.

    python bench/bench_losses.py [--size 4194304] [--threads 2] [--repeats 9]

``cases()`` returns one dict per loss so the suite runner (bench/run.py) can reuse the rows.
Not a test: nothing here runs under pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Dict, List, NamedTuple, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cross_entropy import median_ms  # noqa: E402  (one timing rule for every bench file)


class Loss(NamedTuple):
    name: str
    fastloss: str  # name in fastloss.functional (with its _with_grad)
    torch: Callable
    operands: Callable[[np.random.Generator, int], Tuple[np.ndarray, ...]]
    options: Dict


def _torchvision_focal(inputs, targets, alpha=0.25, gamma=2.0, reduction="mean"):
    """torchvision.ops.sigmoid_focal_loss in torch ops (torchvision is not a dependency)."""
    import torch
    import torch.nn.functional as TF

    p = torch.sigmoid(inputs)
    ce = TF.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.mean() if reduction == "mean" else loss.sum()


def _losses() -> List[Loss]:
    import torch.nn.functional as TF

    def normal(rng, n):
        return rng.standard_normal(n, dtype=np.float32)

    def pair(rng, n):
        return normal(rng, n), normal(rng, n)

    def labels(rng, n):
        return normal(rng, n), rng.choice(np.array([-1.0, 1.0], np.float32), n)

    def probabilities(rng, n):
        return np.log(rng.uniform(0.01, 1, n)).astype(np.float32), rng.uniform(0, 1, n).astype(np.float32)

    def counts(rng, n):
        return normal(rng, n), rng.poisson(3.0, n).astype(np.float32)

    def gaussian(rng, n):
        return normal(rng, n), normal(rng, n), rng.uniform(0.1, 2, n).astype(np.float32)

    def ranking(rng, n):
        return normal(rng, n), normal(rng, n), rng.choice(np.array([-1.0, 1.0], np.float32), n)

    def binary(rng, n):
        return 3 * normal(rng, n), rng.integers(0, 2, n).astype(np.float32)

    # The row losses: n elements as rows of 256 features (classes for multi_margin).
    def row_pair(rng, n):
        x1, x2 = normal(rng, n).reshape(-1, 256), normal(rng, n).reshape(-1, 256)
        return x1, x2, rng.choice(np.array([-1.0, 1.0], np.float32), len(x1))

    def row_classes(rng, n):
        x = normal(rng, n).reshape(-1, 256)
        return x, rng.integers(0, 256, len(x))

    def row_triplet(rng, n):
        return tuple(normal(rng, n).reshape(-1, 256) for _ in range(3))

    return [
        Loss("l1_loss", "l1_loss", TF.l1_loss, pair, {}),
        Loss("smooth_l1_loss", "smooth_l1_loss", TF.smooth_l1_loss, pair, {"beta": 0.5}),
        Loss("huber_loss", "huber_loss", TF.huber_loss, pair, {"delta": 0.5}),
        Loss("sigmoid_focal_loss", "sigmoid_focal_loss", _torchvision_focal, binary, {"reduction": "mean"}),
        Loss("kl_div", "kl_div", TF.kl_div, probabilities, {"reduction": "batchmean"}),
        Loss("poisson_nll_loss", "poisson_nll_loss", TF.poisson_nll_loss, counts, {"full": True}),
        Loss("gaussian_nll_loss", "gaussian_nll_loss", TF.gaussian_nll_loss, gaussian, {}),
        Loss("soft_margin_loss", "soft_margin_loss", TF.soft_margin_loss, labels, {}),
        Loss("hinge_embedding_loss", "hinge_embedding_loss", TF.hinge_embedding_loss, labels, {}),
        Loss("margin_ranking_loss", "margin_ranking_loss", TF.margin_ranking_loss, ranking, {"margin": 0.1}),
        Loss("cosine_embedding_loss", "cosine_embedding_loss", TF.cosine_embedding_loss, row_pair, {"margin": 0.2}),
        Loss("multi_margin_loss", "multi_margin_loss", TF.multi_margin_loss, row_classes, {}),
        Loss("triplet_margin_loss", "triplet_margin_loss", TF.triplet_margin_loss, row_triplet, {}),
    ]


def cases(size: int = 1 << 22, threads: int = 2, repeats: int = 9) -> List[Dict[str, object]]:
    """One row per loss: milliseconds for forward and fused forward+backward, fastloss vs torch."""
    import torch

    import fastloss
    import fastloss.functional as F

    fastloss.set_num_threads(threads)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = []
    for loss in _losses():
        arrays = loss.operands(rng, size)
        forward = getattr(F, loss.fastloss)
        with_grad = getattr(F, loss.fastloss + "_with_grad")
        tensors = [torch.from_numpy(a) for a in arrays]
        leaf = tensors[0].clone().requires_grad_()

        def torch_forward_backward():
            leaf.grad = None
            value = loss.torch(leaf, *tensors[1:], **loss.options)
            value.backward()
            return value

        ours = forward(*arrays, **loss.options)
        theirs = loss.torch(*tensors, **loss.options).item()
        if not np.isclose(float(ours), theirs, rtol=1e-4):
            raise AssertionError(f"{loss.name}: fastloss {float(ours)} != torch {theirs}")
        rows.append({
            "loss": loss.name,
            "size": size,
            "dtype": "float32",
            "threads": threads,
            "fastloss_forward_ms": median_ms(lambda: forward(*arrays, **loss.options), repeats),
            "torch_forward_ms": median_ms(lambda: loss.torch(*tensors, **loss.options), repeats),
            "fastloss_forward_backward_ms": median_ms(lambda: with_grad(*arrays, **loss.options), repeats),
            "torch_forward_backward_ms": median_ms(torch_forward_backward, repeats),
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1 << 22)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    for row in cases(args.size, args.threads, args.repeats):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
