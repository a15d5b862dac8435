"""The training loop: ``Trainer.fit`` → ``History``, early stopping, checkpoints and resume.

A run's whole state (weights, optimizer buffers, schedule, every random generator, epoch, history,
callback state) is saved at each epoch end to one ``state.npz`` (arrays + a JSON header, no
pickle), written atomically. ``Trainer.load_state(path)`` restores it so that a killed run finishes
with exactly the numbers an uninterrupted run would have produced.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ..io import write_json, write_npz
from ..nn.losses import CrossEntropyLoss
from ..nn.schedules import ConstantLR
from .data import batches
from .progress import progress_mode

log = logging.getLogger(__name__)

__all__ = ["History", "Trainer", "TrainingDiverged"]

STATE_FORMAT = "nnlib-training-state/1"


def _json_scalar(value):
    """JSON fallback for NumPy scalars (RNG states hold NumPy ints; never truncate floats)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""

    def __init__(self, epoch: int, iteration: int, lr: float, loss: float):
        self.epoch, self.iteration, self.lr, self.loss = epoch, iteration, lr, loss
        super().__init__(f"training diverged: loss is {loss} at epoch {epoch + 1}, iteration "
                         f"{iteration} (lr {lr:g}); try a smaller learning rate")


@dataclass
class History:
    """What happened during ``fit``: one list per series (an entry of each is described below),
    ``iterations_per_epoch``, ``best_epoch`` (by validation accuracy, 0-based) and
    ``stopped_early``."""

    #: a training iteration (1-based count over all epochs)
    iteration: list[int] = field(default_factory=list)
    #: the mean loss of that iteration's batch
    train_loss: list[float] = field(default_factory=list)
    #: the accuracy of that batch
    train_acc: list[float] = field(default_factory=list)
    #: the iteration of a validation evaluation (every eval_every iterations on a subsample of
    #: the validation set, and at each epoch end on all of it)
    eval_iteration: list[int] = field(default_factory=list)
    #: the validation loss of that evaluation
    valid_loss: list[float] = field(default_factory=list)
    #: the validation accuracy of that evaluation
    valid_acc: list[float] = field(default_factory=list)
    #: an epoch's mean training loss
    epoch_train_loss: list[float] = field(default_factory=list)
    #: an epoch's training accuracy
    epoch_train_acc: list[float] = field(default_factory=list)
    #: the validation loss at an epoch's end
    epoch_valid_loss: list[float] = field(default_factory=list)
    #: the validation accuracy at an epoch's end
    epoch_valid_acc: list[float] = field(default_factory=list)
    #: the learning rate used during an epoch
    lr: list[float] = field(default_factory=list)
    #: an epoch's wall time in seconds
    epoch_time: list[float] = field(default_factory=list)
    iterations_per_epoch: int = 0
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs_run(self) -> int:
        return len(self.epoch_valid_acc)

    @property
    def wall_time(self) -> float:
        return float(sum(self.epoch_time))

    @property
    def best_valid_acc(self) -> float | None:
        return max(self.epoch_valid_acc) if self.epoch_valid_acc else None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> History:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def save(self, path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path) -> History:
        return cls.from_dict(json.loads(Path(path).read_text()))


# --- progress ---------------------------------------------------------------------------------

def _hook(callback, name: str):
    """A callback's hook, or a no-op for one it does not define (any object with some of the
    ``nnlib.lab.callbacks.Callback`` methods is a callback)."""
    return getattr(callback, name, lambda *args: None)


def _check_fit_args(train, valid, batch_size) -> None:
    (x, y), (xv, yv) = train, valid
    if len(x) != len(y) or len(xv) != len(yv):
        raise ValueError(f"inputs and labels differ in length: train {len(x)}/{len(y)}, "
                         f"valid {len(xv)}/{len(yv)}")
    if len(x) == 0 or len(xv) == 0:
        raise ValueError(f"empty data: {len(x)} training and {len(xv)} validation samples")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")


class _Progress:
    """An epoch's progress: a tqdm bar and a logged line at its end ("bar"), the logged line
    alone ("epoch") or nothing ("off"); see ``progress.progress_mode``. The line goes to this
    module's logger (``nnlib.lab.training``, INFO), shown where a handler is (``nnlib.logs``)."""

    def __init__(self, progress, n_batches: int, desc: str):
        self.mode = progress_mode(progress)
        self.bar = None
        if self.mode == "bar":
            from tqdm.auto import tqdm
            self.bar = tqdm(total=n_batches, desc=desc, leave=False, unit="batch")

    def batch(self, b: int, loss: float, acc: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if b % 50 == 0:
                self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.3f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def epoch(self, line: str) -> None:
        self.close()
        if self.mode != "off":
            log.info(line)


# --- trainer ----------------------------------------------------------------------------------

class Trainer:
    """Mini-batch training of a ``Sequential`` with a loss, an optimizer and a schedule.

    ``seed`` seeds the shuffling (each epoch is a permutation: without replacement) and the
    on-the-fly ``augment(x, rng)`` callable; the same seed gives the same history bit for bit.
    ``eval_every`` (iterations) adds validation evaluations inside the epoch on the first
    ``eval_samples`` validation images, so that evaluating never dominates training time; the full
    validation set is evaluated at each epoch end.
    ``eval_batch_size``: images per forward pass when evaluating (128: a CNN's im2col columns
    then stay in cache; 10,000 validation images of the report CNN take half the time they took
    at 2,000; the MLPs' logits move in the last float32 bits with the batch size, so it is a
    fixed default, not a tuning knob of a run).

    ``empty_final_step``: end every epoch whose sample count is a multiple of the batch size with
    one optimizer step from a zero gradient, as the lab report's runner did (it ran
    ``N // batch_size + 1`` iterations, the last one on an empty batch, which only lets momentum
    and weight decay move the weights). Not recorded as an iteration in the history.

    ``threads``: BLAS threads used while training and evaluating (default 1). The BLAS library's
    summation order depends on its thread count, so a fixed count is what makes a seed give the
    same numbers wherever the run executes (a CLI run, a notebook, a grid worker). ``None``
    leaves the library's own setting. The second core is used by ``nnlib.nn.parallel`` instead,
    whose fixed two-way split of large products and updates gives the same numbers on 1 or 2
    threads.
    """

    def __init__(self, model, optimizer, schedule=None, loss=None, callbacks=(), seed: int = 0,
                 augment=None, eval_every: int | None = None, eval_samples: int = 2000,
                 eval_batch_size: int = 128, progress="auto", threads: int | None = 1,
                 empty_final_step: bool = False):
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule if schedule is not None else ConstantLR(optimizer)
        self.loss = loss if loss is not None else CrossEntropyLoss()
        self.callbacks = list(callbacks)
        self.augment = augment
        if eval_every is not None and (not isinstance(eval_every, int) or eval_every < 1):
            raise ValueError(f"eval_every must be None or an int >= 1, got {eval_every!r}")
        self.eval_every, self.eval_samples = eval_every, int(eval_samples)
        self.eval_batch_size = int(eval_batch_size)
        self.progress = progress
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be None or an int >= 1, got {threads!r}")
        self.threads = threads
        self.empty_final_step = bool(empty_final_step)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.augment_rng = np.random.default_rng([seed, 1])
        self.history = History()
        self.stop_training = False
        self.eval_time_s = 0.0  # wall seconds spent in evaluate() (validation and test)

    # --- evaluation ---
    def _blas_threads(self):
        if self.threads is None:
            return contextlib.nullcontext()
        from threadpoolctl import threadpool_limits
        return threadpool_limits(limits=self.threads, user_api="blas")

    def evaluate(self, x, y, batch_size: int | None = None) -> tuple[float, float]:
        """Mean loss (``self.loss``) and accuracy of the model on ``(x, y)`` in eval mode."""
        t0 = time.perf_counter()
        with self._blas_threads():
            logits = self.model.predict(x, batch_size or self.eval_batch_size)
        result = self.loss(logits, y), float(np.mean(logits.argmax(axis=1) == y))
        self.eval_time_s += time.perf_counter() - t0
        return result

    # --- training ---
    def fit(self, train, valid, epochs: int, batch_size: int = 32) -> History:
        """Train until ``epochs`` epochs have run in total (a resumed run continues its count).

        train, valid: ``(x, y)`` with x (N, ...) float and y (N,) int. Returns the history;
        raises ``TrainingDiverged`` on a NaN/inf loss.
        """
        _check_fit_args(train, valid, batch_size)
        self.history.iterations_per_epoch = math.ceil(len(train[0]) / batch_size)
        self.stop_training = False
        with self._blas_threads():
            for cb in self.callbacks:
                _hook(cb, "on_train_begin")(self)
            for epoch in range(self.history.epochs_run, epochs):
                if self.history.stopped_early or self.stop_training:
                    break
                self._epoch(train, valid, epoch, epochs, batch_size)
            for cb in self.callbacks:
                _hook(cb, "on_train_end")(self)
        return self.history

    def _epoch(self, train, valid, epoch: int, epochs: int, batch_size: int) -> None:
        """One pass over ``train`` in shuffled minibatches, then the epoch-end evaluation, the
        schedule step and the callbacks."""
        h, (x, y) = self.history, train
        n, n_batches = len(x), h.iterations_per_epoch
        t0, lr = time.perf_counter(), self.optimizer.lr
        self.model.train()
        progress = _Progress(self.progress, n_batches, f"epoch {epoch + 1}/{epochs}")
        sum_loss = sum_correct = 0.0
        for b, (xb, yb) in enumerate(batches(x, y, batch_size, self.rng)):
            it = epoch * n_batches + b + 1
            loss, correct = self._step(xb, yb, epoch, it, lr, progress)
            sum_loss += loss * len(yb)
            sum_correct += correct
            if self.eval_every and it % self.eval_every == 0 and b != n_batches - 1:
                self._record_eval(it, *self.evaluate(valid[0][:self.eval_samples],
                                                     valid[1][:self.eval_samples]))
                self.model.train()
            progress.batch(b, loss, correct / len(yb))
        if self.empty_final_step and n % batch_size == 0:
            self.optimizer.zero_grad()
            self.optimizer.step()
        vl, va = self.evaluate(*valid)
        self._record_eval((epoch + 1) * n_batches, vl, va)
        h.epoch_train_loss.append(sum_loss / n)
        h.epoch_train_acc.append(sum_correct / n)
        h.epoch_valid_loss.append(vl)
        h.epoch_valid_acc.append(va)
        h.lr.append(lr)
        if h.best_epoch is None or va > h.epoch_valid_acc[h.best_epoch]:
            h.best_epoch = epoch
        self.schedule.step()
        h.epoch_time.append(time.perf_counter() - t0)
        progress.epoch(f"epoch {epoch + 1}/{epochs}: train loss {h.epoch_train_loss[-1]:.4f} "
                       f"acc {h.epoch_train_acc[-1]:.4f} | valid loss {vl:.4f} acc {va:.4f} | "
                       f"lr {lr:g} | {h.epoch_time[-1]:.1f}s")
        for cb in sorted(self.callbacks, key=lambda c: getattr(c, "order", 0)):
            _hook(cb, "on_epoch_end")(self, epoch)

    def _step(self, xb, yb, epoch: int, it: int, lr: float, progress) -> tuple[float, int]:
        """Forward, loss, backward and update on one batch; records the iteration."""
        if self.augment is not None:
            xb = self.augment(xb, self.augment_rng)
        out = self.model.forward(xb)
        loss = self.loss(out, yb)
        if not math.isfinite(loss):
            progress.close()
            raise TrainingDiverged(epoch, it, lr, loss)
        self.model.backward(self.loss.backward())
        self.optimizer.step()
        correct = int(np.count_nonzero(out.argmax(axis=1) == yb))
        self.history.iteration.append(it)
        self.history.train_loss.append(loss)
        self.history.train_acc.append(correct / len(yb))
        return loss, correct

    def _record_eval(self, it: int, loss: float, acc: float) -> None:
        self.history.eval_iteration.append(it)
        self.history.valid_loss.append(loss)
        self.history.valid_acc.append(acc)

    # --- state ---
    def save_state(self, path) -> None:
        """Everything needed to continue this run, in one atomic ``.npz``."""
        arrays = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        opt = self.optimizer.state_dict()
        arrays.update({f"optim/{k}": v for k, v in opt.pop("buffers").items()})
        cb_states = []
        for i, cb in enumerate(self.callbacks):
            st, arrs = cb.state_dict()
            cb_states.append({"type": type(cb).__name__, "state": st})
            arrays.update({f"callback{i}/{k}": v for k, v in arrs.items()})
        dropout_rngs = [layer.rng.bit_generator.state for layer in self.model.modules()
                        if hasattr(layer, "rng")]
        header = {
            "format": STATE_FORMAT, "optimizer": opt, "schedule": self.schedule.state_dict(),
            "rng": self.rng.bit_generator.state,
            "augment_rng": self.augment_rng.bit_generator.state,
            "dropout_rngs": dropout_rngs, "history": self.history.to_dict(),
            "callbacks": cb_states, "seed": self.seed,
        }
        arrays["__header__"] = np.array(json.dumps(header, default=_json_scalar))
        write_npz(path, arrays)

    def load_state(self, path) -> None:
        """Restore ``save_state`` output into this trainer (same model architecture)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            header = json.loads(str(arrays.pop("__header__")))
            if header.get("format") != STATE_FORMAT:
                raise ValueError(f"format {header.get('format')!r}, expected {STATE_FORMAT!r}")
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no training state to resume from") from None
        except Exception as exc:
            raise ValueError(f"{path}: not a readable nnlib training state ({exc})") from None

        def group(prefix):
            return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

        try:
            self.model.load_state_dict(group("model/"))
            opt = dict(header["optimizer"])
            opt["buffers"] = group("optim/")
            self.optimizer.load_state_dict(opt)
            self.schedule.load_state_dict(header["schedule"])
            self.rng.bit_generator.state = header["rng"]
            self.augment_rng.bit_generator.state = header["augment_rng"]
            drop = [layer for layer in self.model.modules() if hasattr(layer, "rng")]
            for layer, st in zip(drop, header["dropout_rngs"]):
                layer.rng.bit_generator.state = st
            self.history = History.from_dict(header["history"])
            if len(header["callbacks"]) != len(self.callbacks):
                raise ValueError(f"{len(header['callbacks'])} callback states for "
                                 f"{len(self.callbacks)} callbacks")
            for i, (cb, st) in enumerate(zip(self.callbacks, header["callbacks"])):
                cb.load_state_dict(st["state"], group(f"callback{i}/"))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: training state does not match this run ({exc})") from None
