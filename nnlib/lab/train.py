"""One training run, from a normalised config to its trained model and test metrics: the code a
run's numbers come from.

``experiments.train_run`` wraps :func:`fit_run` in the run-directory protocol (the saved config,
the cache's verification, the manifest). The run cache keys runs by a hash of this module and of
every nnlib module it imports (``nnlib.codehash``), so an edit here or in what it uses - layers,
losses, optimizers, schedules, the config schema, MNIST loading and splits, augmentation, the
trainer, callbacks - retrains, and an edit anywhere else does not.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from ..nn.models import build_model
from ..nn.models import save as save_model
from ..nn.optim import build_optimizer
from ..nn.schedules import build_schedule
from ..paths import default_data_dir
from .callbacks import Checkpoint, EarlyStopping
from .config import Config, load_config
from .data import load_splits
from .training import History, Trainer

__all__ = ["CONFIG_FILE", "fit_run", "load_data"]

#: The normalised config a run directory holds (written before training starts).
CONFIG_FILE = "config.json"

log = logging.getLogger(__name__)


def load_data(config, data_dir=None) -> dict:
    """``{"train", "valid", "test"}`` arrays a config trains and tests on (see ``load_splits``)."""
    return load_splits(load_config(config).data, data_dir=str(data_dir or default_data_dir()))


def fit_run(config: Config, out_dir: Path, seed: int, *, data: dict | None = None, data_dir=None,
            progress="auto", resume: bool = True) -> tuple[History, dict, object]:
    """Train ``config`` (normalised, its ``train.seed`` = ``seed``) into ``out_dir`` and evaluate
    on the test set: ``(history, metrics, model)``.

    Checkpoints go to ``out_dir/checkpoint/`` at every epoch end; with ``resume`` a run whose
    checkpoint is there continues after its last finished epoch, bit-identical to an uninterrupted
    one. Writes ``history.json`` and ``model.npz``; the caller writes ``metrics.json`` and the
    manifest (``experiments.train_run``).
    """
    out_dir = Path(out_dir)
    data = data if data is not None else load_data(config, data_dir)
    train, valid, test = data["train"], data["valid"], data["test"]
    tc = config.train
    aug = tc.augmentation
    if aug is not None:  # "append" / "overwrite": the training set is built once, here
        train = aug.expand(*train, np.random.default_rng([seed, 2]))
    online = aug if aug is not None and aug.mode == "online" else None

    rng = np.random.default_rng(seed)
    model = build_model(config.model, rng=rng)
    optimizer = build_optimizer(config.optimizer, model)
    schedule = build_schedule(config.schedule, optimizer)
    callbacks = []
    if tc.early_stopping is not None:
        callbacks.append(EarlyStopping(**dataclasses.asdict(tc.early_stopping)))
    ckpt_dir = out_dir / "checkpoint"
    callbacks.append(Checkpoint(ckpt_dir, best=True))
    trainer = Trainer(model, optimizer, schedule, callbacks=callbacks, seed=seed, augment=online,
                      eval_every=tc.eval_every, progress=progress,
                      empty_final_step=tc.empty_final_step)
    state = ckpt_dir / "state.npz"
    if resume and state.exists():
        trainer.load_state(state)
        log.info(f"resuming {out_dir} after epoch {trainer.history.epochs_run}")
    history = trainer.fit(train, valid, epochs=tc.epochs, batch_size=tc.batch_size)
    if not (out_dir / CONFIG_FILE).exists():  # the run folder was deleted or replaced meanwhile
        raise FileNotFoundError(f"{out_dir}: run directory changed during training "
                                f"({CONFIG_FILE} is gone); results not written")

    test_loss, test_acc = trainer.evaluate(*test)
    metrics = {"test_loss": test_loss, "test_accuracy": test_acc,
               "training_time_s": history.wall_time,
               "best_valid_accuracy": history.best_valid_acc, "epochs_run": history.epochs_run,
               "seed": seed, "stopped_early": history.stopped_early,
               "evaluation_time_s": trainer.eval_time_s}
    model.meta = {"config": config.to_dict(), "seed": seed, "test_accuracy": test_acc}
    history.save(out_dir / "history.json")
    save_model(model, out_dir / "model.npz")
    return history, metrics, model
