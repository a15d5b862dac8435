"""PyTorch (CPU) reference timing for the same models, optimizer and batch size as
train_speed.py — for comparing nnlib against a mature framework on *your* machine.

Not part of nnlib or its tests, and torch is not a dependency: run it from a separate
environment, e.g.  python -m venv /tmp/tv && /tmp/tv/bin/pip install torch numpy &&
/tmp/tv/bin/python benchmarks/torch_reference.py --model mlp --repeats 3
It trains on synthetic learnable images of MNIST's shape (50,000 × 1×28×28), which costs the same
as MNIST, and prints ONE JSON line like train_speed.py.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from torch import nn


def synthetic(n: int, rng: np.random.Generator):
    """train_speed.py's learnable images: sparse class templates (about 15 % of the pixels on,
    like MNIST's strokes) plus noise, so training converges and no NaN arithmetic is timed."""
    templates = (rng.random((10, 1, 28, 28)) < 0.15).astype(np.float32)
    y = rng.integers(0, 10, n)
    x = np.clip(templates[y] + 0.2 * rng.standard_normal((n, 1, 28, 28), dtype=np.float32), 0, 1)
    return torch.from_numpy(x), torch.from_numpy(y)


def build(kind: str):
    if kind == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 1000), nn.LeakyReLU(0.01),
                              nn.Linear(1000, 10))
        lr, wd = 0.1, 1e-3
    else:
        model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.LeakyReLU(0.01), nn.MaxPool2d(2),
                              nn.Conv2d(6, 16, 5), nn.LeakyReLU(0.01), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(256, 128), nn.LeakyReLU(0.01),
                              nn.Linear(128, 64), nn.LeakyReLU(0.01), nn.Linear(64, 10))
        lr, wd = 0.01, 1e-3
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(m.weight, std=0.1)
            nn.init.zeros_(m.bias)
    # the report's decoupled decay (weights only) is what SGD's weight_decay does up to the
    # lr factor; use param groups so biases are not decayed
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    rest = [p for n, p in model.named_parameters() if not n.endswith("weight")]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": wd},
                           {"params": rest, "weight_decay": 0.0}], lr=lr, momentum=0.9)
    return model, opt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("mlp", "cnn"), required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--samples", type=int, default=50_000, help="training images per epoch")
    args = ap.parse_args()
    torch.manual_seed(0)
    x, y = synthetic(args.samples, np.random.default_rng(0))
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(args.repeats):
        model, opt = build(args.model)
        t0 = time.perf_counter()
        for _ in range(args.epochs):
            perm = torch.randperm(len(x))
            for i in range(0, len(x), args.batch_size):
                idx = perm[i:i + args.batch_size]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
        times.append(time.perf_counter() - t0)
    s = statistics.median(times)
    print(json.dumps({"framework": f"torch {torch.__version__}", "model": args.model,
                      "epochs": args.epochs, "seconds": round(s, 3),
                      "seconds_per_epoch": round(s / args.epochs, 3),
                      "samples_per_s": round(len(x) * args.epochs / s, 1),
                      "threads": torch.get_num_threads(), "repeats": args.repeats,
                      "all_seconds": [round(t, 3) for t in times],
                      "last_batch_loss": round(loss.item(), 4)}))


if __name__ == "__main__":
    main()
