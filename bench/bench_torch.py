"""fastloss.torch against torch eager and torch.compile: a loss's forward and backward through
autograd on CPU tensors, float32, reduction "mean".

    python bench/bench_torch.py [--threads 2] [--repeats 15]

Each (library, case) runs alone in a fresh process (no other library's thread pool spinning
beside it), after two warm-up calls; torch.compile's compile time is reported apart. A timed
call is ``x.grad = None; loss = f(x, target); loss.backward()`` on the same buffers; the last
case is one SGD step of examples/torch_training.py's model (batch 256, 32000 classes) with
fastloss.torch's loss, torch's, and the model and torch's loss under torch.compile. Prints a
markdown table, then every number as JSON. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

CASES = ("binary_cross_entropy_with_logits 2^24", "cross_entropy 8192x1000", "cross_entropy 1024x32000",
         "sigmoid_focal_loss 2^24", "training_step 256x32000")
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
LIBRARIES = ("fastloss.torch", "torch", "torch.compile")


def _torchvision_focal(inputs, targets, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss (reduction "mean") in torch ops."""
    import torch
    p = torch.sigmoid(inputs)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * loss).mean()


def _case(name: str):
    """(loss for torch, loss for fastloss.torch, input, target) of one case."""
    import torch
    import fastloss.torch as FT
    generator = torch.Generator().manual_seed(0)
    loss, size = name.split()
    if loss == "cross_entropy":
        n, c = map(int, size.split("x"))
        x = torch.randn(n, c, generator=generator)
        target = torch.randint(0, c, (n,), generator=generator)
        return torch.nn.functional.cross_entropy, FT.cross_entropy, x, target
    x = torch.randn(2 ** int(size[2:]), generator=generator)
    target = (torch.rand(x.shape, generator=generator) > 0.5).float()
    if loss == "sigmoid_focal_loss":
        return _torchvision_focal, lambda i, t: FT.sigmoid_focal_loss(i, t, reduction="mean"), x, target
    return torch.nn.functional.binary_cross_entropy_with_logits, FT.binary_cross_entropy_with_logits, x, target


def _training_step(library: str, size: str) -> Callable[[], None]:
    """One step of examples/torch_training.py's model (SGD): its loss fastloss.torch's or
    torch's; torch.compile compiles the model with torch's loss."""
    import torch
    import fastloss.torch as FT
    sys.path.insert(0, EXAMPLES)
    from torch_training import make_model

    batch, vocabulary = map(int, size.split("x"))
    torch.manual_seed(0)
    model = make_model(vocabulary, 128)
    criterion = FT.nn.CrossEntropyLoss() if library == "fastloss.torch" else torch.nn.CrossEntropyLoss()

    def loss_of(tokens: Any, targets: Any) -> Any:
        return criterion(model(tokens), targets)

    forward = torch.compile(loss_of, fullgraph=True) if library == "torch.compile" else loss_of
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, vocabulary, (batch,), generator=generator)
    targets = torch.randint(0, vocabulary, (batch,), generator=generator)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        forward(tokens, targets).backward()
        optimizer.step()
    return step


def run_one(library: str, case: str, threads: int, repeats: int) -> Dict[str, float]:
    import torch
    import fastloss
    torch.set_num_threads(threads)
    fastloss.set_num_threads(threads)
    name, size = case.split()
    if name == "training_step":
        step = _training_step(library, size)
    else:
        torch_loss, fastloss_loss, x, target = _case(case)
        x.requires_grad_()
        loss_fn: Callable = {"fastloss.torch": fastloss_loss, "torch": torch_loss,
                             "torch.compile": torch.compile(torch_loss, fullgraph=True)}[library]

        def step() -> None:
            x.grad = None
            loss_fn(x, target).backward()

    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"median_ms": statistics.median(times) * 1e3, "first_call_ms": first * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--one", nargs=2, metavar=("LIBRARY", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one, args.threads, args.repeats)))
        return
    import fastloss
    import torch
    results: Dict[Tuple[str, str], Dict[str, float]] = {}
    for case in CASES:
        for library in LIBRARIES:
            out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--repeats",
                                  str(args.repeats), "--one", library, case], capture_output=True, text=True,
                                 check=True)
            results[(library, case)] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"SIMD target {fastloss.simd_target()}, torch {torch.__version__}, {args.threads} threads, "
          f"median of {args.repeats}, each in its own process; forward+backward through autograd, float32\n")
    lines: List[str] = ["| case | fastloss.torch | torch eager | torch.compile | vs eager | vs compile |",
                        "|---|---:|---:|---:|---:|---:|"]
    for case in CASES:
        ours, eager, compiled = (results[(lib, case)]["median_ms"] for lib in LIBRARIES)
        lines.append(f"| {case} | {ours:.2f} ms | {eager:.2f} ms | {compiled:.2f} ms | {eager / ours:.1f}x | "
                     f"{compiled / ours:.1f}x |")
    print("\n".join(lines))
    print("\ntorch.compile's first call (compilation): " + ", ".join(
        f"{case} {results[('torch.compile', case)]['first_call_ms'] / 1e3:.1f} s" for case in CASES))
    print(json.dumps({f"{lib} | {case}": value for (lib, case), value in results.items()}))


if __name__ == "__main__":
    main()
