"""Callbacks for ``Trainer.fit``: hooks at the start of training, at each epoch end (in ``order``)
and at the end; their state is saved with the training state so a resumed run continues them."""
from __future__ import annotations

from functools import partial
from pathlib import Path

from .. import argcheck
from ..nn.models import save as save_model


class Callback:
    """Hooks called by ``Trainer.fit``; ``state_dict`` is saved with the training state.

    At each epoch end callbacks run in ``order`` (then list order): a checkpoint (order 1) runs
    after the others, so the state it saves includes their update for that epoch.
    """

    order = 0

    def on_train_begin(self, trainer) -> None:
        pass

    def on_epoch_end(self, trainer, epoch: int) -> None:
        pass

    def on_train_end(self, trainer) -> None:
        pass

    def state_dict(self) -> tuple[dict, dict]:
        """``(json_state, arrays)``."""
        return {}, {}

    def load_state_dict(self, state: dict, arrays: dict) -> None:
        pass


#: How ``EarlyStopping`` checks its arguments (``FieldError`` naming one); config parsing applies
#: the same checks to ``train.early_stopping``.
EARLY_STOPPING_CHECKS = {"patience": partial(argcheck.integer, lo=1),
                         "restore_best": argcheck.boolean,
                         "min_delta": partial(argcheck.number, lo=0)}


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; the counter resets on every improvement. With ``restore_best`` the best epoch's
    weights are put back into the model when training ends."""

    def __init__(self, patience: int = 2, restore_best: bool = True, min_delta: float = 0.0,
                 monitor: str = "valid_acc"):
        patience, restore_best, min_delta = (
            EARLY_STOPPING_CHECKS[name](name, value) for name, value in
            (("patience", patience), ("restore_best", restore_best), ("min_delta", min_delta)))
        if monitor not in ("valid_acc", "valid_loss"):
            raise ValueError(f"monitor must be 'valid_acc' or 'valid_loss', got {monitor!r}")
        self.patience, self.restore_best = patience, restore_best
        self.min_delta, self.monitor = min_delta, monitor
        self.best: float | None = None
        self.wait = 0
        self.best_weights: dict | None = None  # by ``monitor``; restored when training ends

    def on_epoch_end(self, trainer, epoch):
        h = trainer.history
        value = h.epoch_valid_acc[-1] if self.monitor == "valid_acc" else h.epoch_valid_loss[-1]
        sign = 1 if self.monitor == "valid_acc" else -1
        if self.best is None or sign * (value - self.best) > self.min_delta:
            self.best, self.wait = value, 0
            if self.restore_best:
                self.best_weights = trainer.model.state_dict()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_training = True
                h.stopped_early = True

    def on_train_end(self, trainer):
        if self.restore_best and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self):
        return {"best": self.best, "wait": self.wait}, dict(self.best_weights or {})

    def load_state_dict(self, state, arrays):
        self.best, self.wait = state["best"], state["wait"]
        self.best_weights = dict(arrays) or None


class Checkpoint(Callback):
    """At each epoch end write ``state.npz`` (everything ``resume`` needs) into ``directory``,
    ``best.npz`` whenever validation accuracy improves, and ``epoch_NNN.npz`` when
    ``every_epoch``. All writes are atomic."""

    order = 1

    def __init__(self, directory, every_epoch: bool = False, best: bool = True):
        self.directory = Path(directory)
        self.every_epoch, self.best = every_epoch, best

    def on_epoch_end(self, trainer, epoch):
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.best and trainer.history.best_epoch == epoch:
            save_model(trainer.model, self.directory / "best.npz")
        if self.every_epoch:
            save_model(trainer.model, self.directory / f"epoch_{epoch + 1:03d}.npz")
        trainer.save_state(self.directory / "state.npz")
