"""Seed ensembles: several trained models voting with their averaged softmax outputs."""
from __future__ import annotations

import numpy as np

from .losses import softmax  # still importable from here, its former home


class Ensemble:
    """Soft voting over ``models`` (e.g. one recipe trained with several seeds): the prediction
    is the mean of the members' softmax outputs; no extra training.

    Members must map the same input to the same number of classes.
    """

    def __init__(self, models):
        self.models = list(models)
        if not self.models:
            raise ValueError("Ensemble needs at least one model")

    def predict_proba(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """x: (N, ...) → (N, C) mean of the members' class probabilities (float64)."""
        total = None
        for i, model in enumerate(self.models):
            p = softmax(model.predict(x, batch_size).astype(np.float64))
            if total is not None and p.shape != total.shape:
                raise ValueError(f"ensemble member {i} gives {p.shape}, member 0 {total.shape}")
            total = p if total is None else total + p
        return total / len(self.models)

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """x: (N, ...) → (N,) class indices of the averaged probabilities."""
        return self.predict_proba(x, batch_size).argmax(axis=1)

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> dict:
        """``{"accuracy", "loss"}`` on ``(x, y)``: loss is the mean negative log of the averaged
        probability of the true class."""
        proba = self.predict_proba(x, batch_size)
        y = np.asarray(y)
        picked = proba[np.arange(len(y)), y]
        return {"accuracy": float(np.mean(proba.argmax(axis=1) == y)),
                "loss": float(-np.mean(np.log(np.maximum(picked, 1e-300))))}

    def __len__(self):
        return len(self.models)

    def __repr__(self):
        return f"Ensemble({len(self.models)} models)"
