"""The network math the course teaches: layers with forward/backward, the loss, optimizers,
learning-rate schedules, metrics, models (build, save, load). NumPy only; no files but a model's
own npz. ``nnlib`` re-exports the public names (``nnlib.Linear``, ``nnlib.mlp``, ...)."""
