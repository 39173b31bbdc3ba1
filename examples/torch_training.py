"""Train a small language-model head on the CPU with fastloss.torch's CrossEntropyLoss, next to
torch's own, from the same initial weights and batches.

    python examples/torch_training.py                # 100 steps, prints both loss curves and step times
    python examples/torch_training.py --check        # exit status 1 unless the curves agree

The model: token embeddings (a 32k vocabulary), one hidden layer, and a 32k-class output
layer whose logits go to the loss: the shape where the loss is a large part of a step.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

import fastloss
import fastloss.torch as FT


def make_model(vocabulary: int, width: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Embedding(vocabulary, width), torch.nn.Linear(width, width),
                               torch.nn.GELU(), torch.nn.Linear(width, vocabulary))


def train(model: torch.nn.Module, loss_fn: torch.nn.Module, batches, lr: float):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses, seconds = [], []
    for tokens, targets in batches:
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(tokens), targets)
        loss.backward()
        optimizer.step()
        seconds.append(time.perf_counter() - start)
        losses.append(loss.item())
    return losses, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--vocabulary", type=int, default=32000)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--check", action="store_true", help="fail unless the two loss curves agree")
    args = parser.parse_args()

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    # Synthetic next-token data with structure to learn: the target is a fixed function of the token.
    mapping = torch.randint(0, args.vocabulary, (args.vocabulary,), generator=generator)
    batches = []
    for _ in range(args.steps):
        tokens = torch.randint(0, args.vocabulary, (args.batch,), generator=generator)
        batches.append((tokens, mapping[tokens]))

    model = make_model(args.vocabulary, args.width)
    runs = {}
    for name, loss_fn in (("torch", torch.nn.CrossEntropyLoss()), ("fastloss", FT.nn.CrossEntropyLoss())):
        runs[name] = train(copy.deepcopy(model), loss_fn, batches, lr=3e-3)

    print(f"fastloss {fastloss.__version__}, SIMD target {fastloss.simd_target()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; batch {args.batch}, {args.vocabulary} classes")
    print("step   torch loss   fastloss loss")
    for step in sorted({0, args.steps // 4, args.steps // 2, 3 * args.steps // 4, args.steps - 1}):
        print(f"{step:4d}   {runs['torch'][0][step]:10.6f}   {runs['fastloss'][0][step]:13.6f}")
    for name, (_, seconds) in runs.items():
        steady = sorted(seconds[1:])[len(seconds[1:]) // 2] if len(seconds) > 1 else seconds[0]
        print(f"{name:8s} median step time {steady * 1e3:8.2f} ms")
    # float32 training: the two losses differ by rounding, which the updates carry forward.
    agree = all(abs(a - b) <= 1e-3 * max(1.0, abs(a)) for a, b in zip(runs["torch"][0], runs["fastloss"][0]))
    print("loss curves agree" if agree else "loss curves differ")
    return 0 if agree or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
