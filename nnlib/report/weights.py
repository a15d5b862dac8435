"""What trained weights look like, in numbers: the weight arrays of a model, how active each
hidden unit is, and the dominant stroke orientation of conv kernels (notebook 08)."""
from __future__ import annotations

import numpy as np

ORIENTATIONS = ("horizontal", "diagonal ↘", "vertical", "diagonal ↗")


def weight_arrays(model) -> list[np.ndarray]:
    """The ``W`` of every layer that has one (Linear and Conv2D), in layer order."""
    return [layer.params["W"] for layer in model.layers if "W" in layer.params]


def unit_activity(W: np.ndarray, W0: np.ndarray, b: np.ndarray, x: np.ndarray) -> dict:
    """Per-unit statistics of a first Linear layer ``W (784, H)`` (initial weights ``W0``,
    bias ``b``) on flattened inputs ``x (N, 784)``: weight norms, how far training moved them,
    and on what fraction of the inputs each unit's pre-activation is positive."""
    active = ((x @ W + b) > 0).mean(axis=0)
    n_w, n_d = np.linalg.norm(W, axis=0), np.linalg.norm(W - W0, axis=0)
    return {"hidden units": W.shape[1],
            "‖w‖ per unit (median)": float(np.median(n_w)),
            "‖w − w₀‖ per unit (median)": float(np.median(n_d)),
            "‖w − w₀‖ per unit (min – max)": f"{n_d.min():.2f} – {n_d.max():.2f}",
            "never active (%)": 100 * float(np.mean(active == 0)),
            "active on < 1 % of digits (%)": 100 * float(np.mean(active < 0.01)),
            "active on > 99 % of digits (%)": 100 * float(np.mean(active > 0.99)),
            "mean fraction of digits a unit fires on": float(active.mean())}


def kernel_orientations(W: np.ndarray, min_coherence: float = 0.3):
    """For each single-channel kernel of ``W (C_out, 1, k, k)``: the angle of the strokes it
    responds to (degrees, 0 = horizontal; perpendicular to its mean intensity gradient, from the
    structure tensor), the coherence (0: no preferred direction, 1: a straight edge) and a name
    ("no clear direction" below ``min_coherence``). A DataFrame, one row per kernel."""
    import pandas as pd
    rows = []
    for k in np.asarray(W)[:, 0]:
        gy, gx = np.gradient(k.astype(float))
        jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
        stroke = (0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy)) + 90) % 180
        coherence = np.hypot(jxx - jyy, 2 * jxy) / (jxx + jyy + 1e-12)
        name = ORIENTATIONS[int(((stroke + 22.5) % 180) // 45)]
        rows.append({"stroke angle (°)": round(float(stroke), 1),
                     "coherence": round(float(coherence), 2),
                     "orientation": name if coherence >= min_coherence else "no clear direction"})
    return pd.DataFrame(rows)


def orientation_counts(orientations, owner: str) -> str:
    """A :func:`kernel_orientations` table in words: "5 of the report CNN's 6 first-layer
    kernels (2 horizontal, 3 diagonal /)" — how many have a clear stroke direction, and which."""
    named = orientations.loc[orientations["orientation"] != "no clear direction", "orientation"]
    counts = named.value_counts()
    detail = f" ({', '.join(f'{c} {name}' for name, c in counts.items())})" if len(counts) else ""
    return f"{len(named)} of {owner} {len(orientations)} first-layer kernels{detail}"
