"""``nnlib fetch-data`` (MNIST from the first source that works, verified and cached) and
``nnlib test`` (a saved model scored on the MNIST test set)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import one_line
from ..lab.data import to_float
from ..lab.mnist import CACHE_NAME, load_mnist
from ..nn.losses import CrossEntropyLoss
from ..nn.models import load
from .common import EXIT_OK, data_dir


def cmd_fetch_data(args) -> int:
    folder = data_dir(args)
    x_train, _, x_test, _ = load_mnist(folder)
    cache = folder / CACHE_NAME
    where = cache if cache.is_file() else folder
    print(f"MNIST ready: {len(x_train)} training and {len(x_test)} test images, "
          f"checksums verified -> {where.resolve()}")
    return EXIT_OK


def cmd_test(args) -> int:
    path = Path(args.model)
    model = load(path)
    _, _, x_test, y_test = load_mnist(data_dir(args))
    x, y = to_float(x_test), y_test.astype(np.int64)
    model.eval()
    try:
        logits = model.predict(x[:2])
        if logits.ndim != 2 or logits.shape[1] != 10:
            raise ValueError(f"output shape {logits.shape[1:]}, expected (10,)")
        logits = model.predict(x, 1000)
    except ValueError as exc:
        raise ValueError(f"{path}: model does not fit MNIST images (N, 1, 28, 28) -> 10 classes "
                         f"({one_line(exc, limit=None)})") from None
    loss = float(CrossEntropyLoss()(logits, y))
    acc = float(np.mean(logits.argmax(axis=1) == y))
    print(f"test_loss={loss:.4f} test_accuracy={acc:.4f} n={len(y)} <- {path}")
    return EXIT_OK
