"""Tests for nnlib.lab.training: learning, History bookkeeping, determinism, epoch coverage, early
stopping, checkpoints, exact resume, divergence, progress output and argument checks.

Everything runs on a tiny synthetic task: 1×8×8 images whose label (0–3) is the bright quadrant,
plus Gaussian noise. Chance accuracy is 0.25; a 64-16-4 MLP solves it in a couple of epochs.
"""
import logging
import math
import os
import re
from types import SimpleNamespace

import numpy as np
import pytest

import nnlib
from nnlib import SGD, Adam, CrossEntropyLoss, Momentum, StepLR, cnn, mlp
from nnlib.lab.augment import Augmentation
from nnlib.lab.callbacks import Callback, Checkpoint, EarlyStopping
from nnlib.lab.training import History, Trainer, TrainingDiverged
from nnlib.logs import logging_to

N_TRAIN, N_VALID, BATCH = 300, 100, 32
N_BATCHES = math.ceil(N_TRAIN / BATCH)  # 10: nine batches of 32, one of 12


def quadrant_data(n, seed, noise=0.5):
    """(x, y): x (n, 1, 8, 8) float32, y (n,) int; the 4×4 quadrant ``y`` is brighter by 1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, size=n)
    x = rng.normal(0.0, noise, size=(n, 1, 8, 8)).astype(np.float32)
    for i, label in enumerate(y):
        r, c = divmod(int(label), 2)
        x[i, 0, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 1.0
    return x, y


TRAIN = quadrant_data(N_TRAIN, seed=0)
VALID = quadrant_data(N_VALID, seed=1)


class Recorded:
    """Wraps an array; records every index passed to ``__getitem__`` (the trainer only uses
    ``len(x)`` and ``x[idx]``). ``poison_call``: that call (0-based) returns a batch of inf."""

    def __init__(self, arr, poison_call=None):
        self.arr, self.calls, self.poison_call = arr, [], poison_call

    def __len__(self):
        return len(self.arr)

    def __getitem__(self, idx):
        self.calls.append(np.array(idx, copy=True))
        out = self.arr[idx]
        if self.poison_call is not None and len(self.calls) - 1 == self.poison_call:
            out = np.full_like(out, np.inf)
        return out


def make_run(kind="mlp", seed=0, callbacks=(), augment=None, lr=0.05, **trainer_kw):
    """Fresh (trainer, model) built from the same constructor arguments every call."""
    model_rng = np.random.default_rng(123)
    if kind == "mlp":
        model = mlp([64, 16, 4], rng=model_rng)
        opt, sched = Momentum(model, lr), None
    elif kind == "mlp_dropout":
        model = mlp([64, 16, 4], dropout=0.2, rng=model_rng)
        opt = Momentum(model, lr, momentum=0.9)
        sched = StepLR(opt, step_size=1, gamma=0.5)  # lr changes across every epoch boundary
    elif kind == "cnn_bn_residual":  # BatchNorm running statistics and nested parameters
        model = cnn([1, 4], [3], [64, 4], padding=1, batchnorm=True, residual_blocks=1,
                    dropout=0.2, input_shape=(1, 8, 8), rng=model_rng)
        opt, sched = Momentum(model, lr, momentum=0.9), None
    elif kind == "cnn_adam":
        model = cnn([1, 4], [3], [36, 4], dropout=0.2, input_shape=(1, 8, 8), rng=model_rng)
        opt, sched = Adam(model, 0.01), None
    else:
        raise AssertionError(kind)
    trainer = Trainer(model, opt, schedule=sched, callbacks=list(callbacks), seed=seed,
                      augment=augment, progress="off", **trainer_kw)
    return trainer, model


def comparable(history):
    """History as a dict without wall-clock times (the only field allowed to differ)."""
    d = history.to_dict()
    del d["epoch_time"]
    return d


def assert_same_history(a, b, what):
    da, db = comparable(a), comparable(b)
    diff = [k for k in da if da[k] != db[k]]
    assert not diff, f"{what}: History fields differ: {diff}"


def assert_same_weights(sa, sb, what):
    assert sa.keys() == sb.keys(), f"{what}: parameter names {sorted(sa)} vs {sorted(sb)}"
    for name in sa:
        if not np.array_equal(sa[name], sb[name]):
            delta = np.max(np.abs(sa[name].astype(np.float64) - sb[name]))
            raise AssertionError(f"{what}: parameter {name} differs (max |Δ| = {delta:.3g})")


def weights_differ(sa, sb):
    return any(not np.array_equal(sa[k], sb[k]) for k in sa)


# ------------------------------------------------------------------- the report's empty step
def _decayed_run(empty_final_step):
    model = mlp([64, 16, 4], weight_decay=[0.01, 0.02], rng=np.random.default_rng(123))
    opt = Momentum(model, 0.05)
    sched = StepLR(opt, step_size=1, gamma=0.5)  # a new lr every epoch
    trainer = Trainer(model, opt, schedule=sched, seed=0, progress="off",
                      empty_final_step=empty_final_step)
    return trainer, model


def test_empty_final_step_is_one_zero_gradient_update_when_n_is_a_multiple_of_the_batch():
    train = (TRAIN[0][:256], TRAIN[1][:256])  # 256 = 8 batches of 32: the report ran 9
    report, report_model = _decayed_run(True)
    h_report = report.fit(train, VALID, epochs=2, batch_size=BATCH)
    # by hand: each epoch's 8 batches, then one step from zero gradients at *that epoch's* lr
    # (momentum and the decoupled weight decay move the weights), then the schedule steps
    plain, plain_model = _decayed_run(False)
    for epoch in range(2):
        plain.fit(train, VALID, epochs=epoch + 1, batch_size=BATCH)
        plain.optimizer.lr = 0.05 * 0.5 ** epoch
        plain.optimizer.zero_grad()
        plain.optimizer.step()
        plain.optimizer.lr = 0.05 * 0.5 ** (epoch + 1)
    assert_same_weights(plain_model.state_dict(), report_model.state_dict(), "empty step")
    assert h_report.iterations_per_epoch == 8 and len(h_report.train_loss) == 16
    assert plain.optimizer.steps == report.optimizer.steps == 18
    without, without_model = _decayed_run(False)  # the step is not a no-op
    without.fit(train, VALID, epochs=2, batch_size=BATCH)
    assert weights_differ(without_model.state_dict(), report_model.state_dict())


def test_empty_final_step_changes_nothing_when_the_last_batch_is_partial():
    plain, plain_model = make_run(empty_final_step=False)
    report, report_model = make_run(empty_final_step=True)
    plain.fit(TRAIN, VALID, epochs=2, batch_size=BATCH)  # 300 = 9 × 32 + 12
    report.fit(TRAIN, VALID, epochs=2, batch_size=BATCH)
    assert_same_weights(plain_model.state_dict(), report_model.state_dict(), "partial batch")
    assert_same_history(plain.history, report.history, "partial batch")


# ----------------------------------------------------------------------------- learning
@pytest.mark.parametrize("kind", ["mlp", "cnn_adam"])
def test_model_learns_the_quadrant_task(kind):
    trainer, model = make_run(kind)
    h = trainer.fit(TRAIN, VALID, epochs=4, batch_size=BATCH)
    assert h.epoch_train_acc[-1] > 0.9, f"{kind}: final train acc {h.epoch_train_acc} (chance 0.25)"
    assert h.epoch_valid_acc[-1] > 0.9, f"{kind}: final valid acc {h.epoch_valid_acc}"
    assert h.epoch_train_loss[-1] < h.epoch_train_loss[0], f"{kind}: loss {h.epoch_train_loss}"
    # the recorded epoch-end valid accuracy is the final model's accuracy (no restore_best here)
    pred = model.predict(VALID[0]).argmax(axis=1)
    assert h.epoch_valid_acc[-1] == np.mean(pred == VALID[1])


def test_history_lengths_lr_schedule_and_eval_every():
    epochs, eval_every = 3, 4
    trainer, _ = make_run("mlp_dropout", lr=0.08, eval_every=eval_every, eval_samples=50)
    h = trainer.fit(TRAIN, VALID, epochs=epochs, batch_size=BATCH)

    total = epochs * N_BATCHES
    assert h.iterations_per_epoch == N_BATCHES
    assert h.iteration == list(range(1, total + 1))
    assert len(h.train_loss) == len(h.train_acc) == total
    for name in ("epoch_train_loss", "epoch_train_acc", "epoch_valid_loss", "epoch_valid_acc",
                 "lr", "epoch_time"):
        assert len(getattr(h, name)) == epochs, f"{name} has {len(getattr(h, name))} entries"
    assert h.epochs_run == epochs

    # StepLR(step_size=1, gamma=0.5): lr of epoch e is 0.08 · 0.5^e
    assert h.lr == pytest.approx([0.08, 0.04, 0.02], rel=1e-12), f"lr per epoch {h.lr}"

    # intermediate evaluations at multiples of eval_every, plus one at every epoch end
    epoch_ends = {N_BATCHES * (e + 1) for e in range(epochs)}
    expected = sorted(set(range(eval_every, total + 1, eval_every)) | epoch_ends)
    assert h.eval_iteration == expected
    assert len(h.valid_loss) == len(h.valid_acc) == len(expected)
    at_end = [i for i, it in enumerate(h.eval_iteration) if it in epoch_ends]
    assert [h.valid_acc[i] for i in at_end] == h.epoch_valid_acc
    assert [h.valid_loss[i] for i in at_end] == h.epoch_valid_loss

    # epoch means are the batch-size-weighted means of the per-iteration values
    sizes = np.array([BATCH] * (N_BATCHES - 1) + [N_TRAIN - BATCH * (N_BATCHES - 1)])
    for e in range(epochs):
        sl = slice(e * N_BATCHES, (e + 1) * N_BATCHES)
        loss = np.dot(h.train_loss[sl], sizes) / N_TRAIN
        acc = np.dot(h.train_acc[sl], sizes) / N_TRAIN
        assert h.epoch_train_loss[e] == pytest.approx(loss, rel=1e-9), f"epoch {e} loss"
        assert h.epoch_train_acc[e] == pytest.approx(acc, rel=1e-9), f"epoch {e} acc"
    assert h.best_epoch == int(np.argmax(h.epoch_valid_acc))


def test_history_save_load_round_trip(tmp_path):
    trainer, _ = make_run("mlp")
    h = trainer.fit(TRAIN, VALID, epochs=2, batch_size=BATCH)
    h.save(tmp_path / "h.json")
    back = History.load(tmp_path / "h.json")
    assert back.to_dict() == h.to_dict()


# ----------------------------------------------------------------------------- determinism
AUG = Augmentation(mode="online", rotate=15.0, shift=0.2, p=0.5)


def test_same_seed_is_bit_identical_and_other_seed_differs():
    runs = {}
    for tag, seed in (("a", 7), ("b", 7), ("c", 8)):
        trainer, model = make_run("mlp_dropout", seed=seed, augment=AUG)
        runs[tag] = (trainer.fit(TRAIN, VALID, epochs=3, batch_size=BATCH), model.state_dict())
    assert_same_history(runs["a"][0], runs["b"][0], "same seed")
    assert_same_weights(runs["a"][1], runs["b"][1], "same seed")
    assert runs["a"][0].train_loss != runs["c"][0].train_loss, "seeds 7 and 8 gave the same losses"
    assert weights_differ(runs["a"][1], runs["c"][1]), "seeds 7 and 8 gave the same weights"


# ----------------------------------------------------------------------------- epoch coverage
def test_every_sample_seen_exactly_once_per_epoch_and_augment_gets_those_batches():
    x, y = TRAIN
    rec = Recorded(x)
    seen = []

    def augment(xb, rng):
        assert isinstance(rng, np.random.Generator)
        seen.append(xb.copy())
        return xb

    trainer, _ = make_run("mlp", augment=augment)
    epochs = 3
    trainer.fit((rec, y), VALID, epochs=epochs, batch_size=BATCH)

    assert len(rec.calls) == epochs * N_BATCHES, f"{len(rec.calls)} batch reads"
    expected_sizes = [BATCH] * (N_BATCHES - 1) + [N_TRAIN - BATCH * (N_BATCHES - 1)]
    orders = []
    for e in range(epochs):
        batches = rec.calls[e * N_BATCHES:(e + 1) * N_BATCHES]
        assert [len(b) for b in batches] == expected_sizes, f"epoch {e} batch sizes"
        order = np.concatenate(batches)
        assert np.array_equal(np.sort(order), np.arange(N_TRAIN)), (
            f"epoch {e}: indices are not a permutation of 0..{N_TRAIN - 1} "
            f"({N_TRAIN - len(np.unique(order))} repeats)")
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1]), "epochs 1 and 2 used the same order"
    assert not np.array_equal(orders[0], np.arange(N_TRAIN)), "epoch 1 was not shuffled"
    # the augment callable received exactly the rows read for each batch
    assert len(seen) == len(rec.calls)
    for i, (xb, idx) in enumerate(zip(seen, rec.calls)):
        assert np.array_equal(xb, x[idx]), f"augment call {i} got other rows than batch {i}"


def test_augmented_batch_is_what_the_model_trains_on():
    # an "augmentation" that blanks every image leaves nothing to learn: accuracy near chance
    trainer, _ = make_run("mlp", augment=lambda xb, rng: np.zeros_like(xb))
    h = trainer.fit(TRAIN, VALID, epochs=3, batch_size=BATCH)
    assert h.epoch_train_acc[-1] < 0.5, f"train acc {h.epoch_train_acc} with blanked inputs"


# ----------------------------------------------------------------------------- early stopping
def drive(cb, accs=None, losses=None):
    """Feed ``cb`` one epoch at a time; return the stop flag after each epoch."""
    n = len(accs if accs is not None else losses)
    trainer = SimpleNamespace(history=History(), stop_training=False,
                              model=SimpleNamespace(state_dict=dict))
    flags = []
    for e in range(n):
        trainer.history.epoch_valid_acc.append(accs[e] if accs is not None else 0.0)
        trainer.history.epoch_valid_loss.append(losses[e] if losses is not None else 0.0)
        cb.on_epoch_end(trainer, e)
        flags.append(trainer.stop_training)
        if trainer.stop_training:
            break
    return flags, trainer.history


def test_early_stopping_patience_resets_on_improvement():
    # 0.55 is a miss, 0.7 improves (counter back to 0), 0.65 and 0.64 are two misses → stop
    flags, h = drive(EarlyStopping(patience=2), accs=[0.5, 0.6, 0.55, 0.7, 0.65, 0.64])
    assert flags == [False] * 5 + [True], f"stop flags per epoch {flags}"
    assert h.stopped_early


def test_early_stopping_stops_after_patience_misses():
    flags, h = drive(EarlyStopping(patience=2), accs=[0.5, 0.6, 0.55, 0.58, 0.9])
    assert flags == [False, False, False, True], f"stop flags per epoch {flags}"
    assert h.stopped_early


def test_early_stopping_min_delta_and_loss_monitor():
    # gains below min_delta (0.005, 0.009 over the best 0.5) are not improvements
    flags, _ = drive(EarlyStopping(patience=2, min_delta=0.01), accs=[0.5, 0.505, 0.509, 0.6])
    assert flags == [False, False, True], f"min_delta: stop flags {flags}"
    # for a loss, lower is better: 0.8 improves, 0.9 and 0.85 are misses
    flags, _ = drive(EarlyStopping(patience=2, monitor="valid_loss"), losses=[1.0, 0.8, 0.9, 0.85])
    assert flags == [False, False, False, True], f"valid_loss: stop flags {flags}"
    flags, _ = drive(EarlyStopping(patience=2, monitor="valid_loss"), losses=[1.0, 0.8, 0.9, 0.7])
    assert flags == [False] * 4, f"valid_loss improving again must not stop: {flags}"


@pytest.mark.parametrize("kwargs", [{"patience": 0}, {"patience": 1.5}, {"monitor": "acc"}])
def test_early_stopping_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        EarlyStopping(**kwargs)


@pytest.mark.parametrize("restore_best", [True, False])
def test_restore_best_puts_back_the_best_epoch_weights(tmp_path, restore_best):
    # high lr on an easy task: valid acc saturates, later ties are not improvements, so the
    # run stops `patience` epochs after the best one while the weights keep changing
    es = EarlyStopping(patience=2, restore_best=restore_best)
    trainer, model = make_run("mlp", lr=0.2, callbacks=[es, Checkpoint(tmp_path, every_epoch=True)])
    h = trainer.fit(TRAIN, VALID, epochs=15, batch_size=BATCH)
    assert h.stopped_early, f"precondition: expected an early stop, valid acc {h.epoch_valid_acc}"
    assert h.epochs_run < 15
    assert h.best_epoch == h.epochs_run - 1 - 2, f"best {h.best_epoch} of {h.epochs_run}"

    final = model.state_dict()
    best = nnlib.load(tmp_path / "best.npz").state_dict()
    best_epoch_file = nnlib.load(tmp_path / f"epoch_{h.best_epoch + 1:03d}.npz").state_dict()
    last = nnlib.load(tmp_path / f"epoch_{h.epochs_run:03d}.npz").state_dict()
    assert_same_weights(best, best_epoch_file, "best.npz vs the best epoch's file")
    assert weights_differ(best, last), "precondition: best and last epoch weights are equal"
    if restore_best:
        assert_same_weights(final, best, "restore_best=True: final model vs best.npz")
    else:
        assert_same_weights(final, last, "restore_best=False: final model vs last epoch")


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoint_files_are_complete_loadable_and_no_temp_files(tmp_path):
    d = tmp_path / "ckpt"
    trainer, model = make_run("mlp", callbacks=[Checkpoint(d, every_epoch=True)])
    h = trainer.fit(TRAIN, VALID, epochs=3, batch_size=BATCH)
    expected = {"best.npz", "state.npz", "epoch_001.npz", "epoch_002.npz", "epoch_003.npz"}
    assert set(os.listdir(d)) == expected, f"directory holds {sorted(os.listdir(d))}"
    last = nnlib.load(d / "epoch_003.npz")
    assert_same_weights(last.state_dict(), model.state_dict(), "epoch_003.npz vs final model")
    assert np.array_equal(last.predict(VALID[0]), model.predict(VALID[0]))
    best = nnlib.load(d / "best.npz")
    assert_same_weights(best.state_dict(),
                        nnlib.load(d / f"epoch_{h.best_epoch + 1:03d}.npz").state_dict(),
                        "best.npz vs the best epoch")
    for name in ("epoch_001.npz", "epoch_002.npz"):
        assert weights_differ(nnlib.load(d / name).state_dict(), last.state_dict()), name


def test_checkpoint_defaults_write_only_what_is_asked(tmp_path):
    trainer, _ = make_run("mlp", callbacks=[Checkpoint(tmp_path / "a"),
                                            Checkpoint(tmp_path / "b", best=False)])
    trainer.fit(TRAIN, VALID, epochs=2, batch_size=BATCH)
    assert sorted(os.listdir(tmp_path / "a")) == ["best.npz", "state.npz"]
    assert sorted(os.listdir(tmp_path / "b")) == ["state.npz"]


# ----------------------------------------------------------------------------- resume
RESUME_CASES = {
    "mlp_dropout_momentum_steplr": {"kind": "mlp_dropout"},
    "mlp_dropout_online_augment": {"kind": "mlp_dropout", "augment": AUG},
    "cnn_adam_eval_every": {"kind": "cnn_adam", "eval_every": 3, "eval_samples": 40},
    "cnn_batchnorm_residual": {"kind": "cnn_bn_residual", "augment": AUG},
}


def _resume_compare(tmp_path, case, extra_callbacks=(), epochs=4, split=2):
    """Run A uninterrupted; run B to ``split`` epochs, then resume a fresh trainer to
    ``epochs``. Returns (history A, history resumed, trainer A, trainer resumed)."""
    def build(ckpt_dir=None):
        cbs = [cb() for cb in extra_callbacks]
        if ckpt_dir is not None:
            cbs.append(Checkpoint(ckpt_dir))
        return make_run(callbacks=cbs, **case)

    ta, ma = build()
    ha = ta.fit(TRAIN, VALID, epochs=epochs, batch_size=BATCH)

    tb, _ = build(tmp_path)
    tb.fit(TRAIN, VALID, epochs=split, batch_size=BATCH)
    tc, mc = build(tmp_path)  # fresh model, optimizer, schedule, callbacks, trainer
    tc.load_state(tmp_path / "state.npz")
    assert tc.history.epochs_run == split, "state.npz does not hold the interrupted run"
    hc = tc.fit(TRAIN, VALID, epochs=epochs, batch_size=BATCH)

    assert_same_history(ha, hc, f"resume at epoch {split}")
    assert_same_weights(ma.state_dict(), mc.state_dict(), f"resume at epoch {split}")
    oa, oc = ta.optimizer.state_dict(), tc.optimizer.state_dict()
    assert (oa["lr"], oa["steps"]) == (oc["lr"], oc["steps"]), f"optimizer {oa['lr']} vs {oc['lr']}"
    assert_same_weights(oa["buffers"], oc["buffers"], "optimizer buffers after resume")
    return ha, hc, ta, tc


@pytest.mark.parametrize("name", RESUME_CASES)
def test_resume_reproduces_uninterrupted_run(tmp_path, name):
    ha, _, _, _ = _resume_compare(tmp_path, RESUME_CASES[name])
    assert ha.epochs_run == 4


@pytest.mark.parametrize("order", ["early_stopping_first", "checkpoint_first"])
def test_resume_with_early_stopping(tmp_path, order):
    # the task saturates at epoch 1, so with patience 3 the counter is 1 at the split (epoch 2)
    # and the run stops after epoch 4 only if the restored counter carries on from 1
    extra = [lambda: EarlyStopping(patience=3, restore_best=True)]
    case = {"kind": "mlp_dropout", "lr": 0.2}
    if order == "checkpoint_first":
        # Checkpoint listed before EarlyStopping: state.npz must still include ES's update
        def build_case(ckpt):
            return [Checkpoint(ckpt), EarlyStopping(patience=3, restore_best=True)]
        ta, ma = make_run(callbacks=build_case(tmp_path / "a"), **case)
        ha = ta.fit(TRAIN, VALID, epochs=6, batch_size=BATCH)
        tb, _ = make_run(callbacks=build_case(tmp_path / "b"), **case)
        tb.fit(TRAIN, VALID, epochs=2, batch_size=BATCH)
        tc, mc = make_run(callbacks=build_case(tmp_path / "b"), **case)
        tc.load_state(tmp_path / "b" / "state.npz")
        hc = tc.fit(TRAIN, VALID, epochs=6, batch_size=BATCH)
        assert_same_history(ha, hc, "Checkpoint before EarlyStopping")
        assert_same_weights(ma.state_dict(), mc.state_dict(), "Checkpoint before EarlyStopping")
        # and resuming the finished run from A's own state must not run any further epoch
        td, _ = make_run(callbacks=build_case(tmp_path / "a"), **case)
        td.load_state(tmp_path / "a" / "state.npz")
        hd = td.fit(TRAIN, VALID, epochs=6, batch_size=BATCH)
        assert_same_history(ha, hd, "resumed an early-stopped run (Checkpoint listed first)")
    else:
        ha, hc, _, _ = _resume_compare(tmp_path, case, extra_callbacks=extra, epochs=6)
    assert ha.stopped_early and ha.epochs_run == 4, (
        f"precondition: expected a stop after 4 epochs, valid acc {ha.epoch_valid_acc}")


def test_resuming_a_finished_run_returns_immediately(tmp_path):
    trainer, model = make_run("mlp_dropout", callbacks=[Checkpoint(tmp_path)])
    h = trainer.fit(TRAIN, VALID, epochs=3, batch_size=BATCH)

    fresh, fresh_model = make_run("mlp_dropout", callbacks=[Checkpoint(tmp_path)])
    fresh.load_state(tmp_path / "state.npz")
    rec = Recorded(TRAIN[0])
    h2 = fresh.fit((rec, TRAIN[1]), VALID, epochs=3, batch_size=BATCH)
    assert rec.calls == [], f"a finished run read {len(rec.calls)} training batches"
    assert fresh.optimizer.steps == trainer.optimizer.steps
    assert_same_history(h, h2, "resumed finished run")
    assert_same_weights(model.state_dict(), fresh_model.state_dict(), "resumed finished run")


def _state_file(tmp_path):
    trainer, _ = make_run("mlp")
    trainer.fit(TRAIN, VALID, epochs=1, batch_size=BATCH)
    path = tmp_path / "state.npz"
    trainer.save_state(path)
    return path


def test_load_state_truncated_or_garbage_file_raises_value_error_naming_it(tmp_path):
    good = _state_file(tmp_path)
    data = good.read_bytes()
    for name, content in (("truncated.npz", data[: len(data) // 2]),
                          ("garbage.npz", b"this is not an npz file at all"),
                          ("empty.npz", b"")):
        bad = tmp_path / name
        bad.write_bytes(content)
        trainer, _ = make_run("mlp")
        with pytest.raises(ValueError, match=re.escape(name)):
            trainer.load_state(bad)


def test_load_state_missing_file_raises_file_not_found(tmp_path):
    trainer, _ = make_run("mlp")
    with pytest.raises(FileNotFoundError, match=r"nope\.npz"):
        trainer.load_state(tmp_path / "nope.npz")


def test_load_state_from_other_architecture_raises_value_error(tmp_path):
    path = _state_file(tmp_path)
    model = mlp([64, 8, 4])
    other = Trainer(model, Momentum(model, 0.05), progress="off")
    with pytest.raises(ValueError, match=r"state\.npz"):
        other.load_state(path)


def test_load_state_with_other_callbacks_raises_value_error(tmp_path):
    path = _state_file(tmp_path)  # saved with no callbacks
    trainer, _ = make_run("mlp", callbacks=[EarlyStopping()])
    with pytest.raises(ValueError, match="callback"):
        trainer.load_state(path)


# ----------------------------------------------------------------------------- divergence
def test_huge_learning_rate_raises_training_diverged():
    model = mlp([64, 16, 4], rng=np.random.default_rng(0))
    trainer = Trainer(model, SGD(model, 1e6), progress="off")
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged) as info:
        trainer.fit(TRAIN, VALID, epochs=3, batch_size=BATCH)
    e = info.value
    assert e.iteration == len(trainer.history.iteration) + 1, "iteration is not the failing one"
    assert not math.isfinite(e.loss)
    msg = str(e)
    for part in (f"epoch {e.epoch + 1}", f"iteration {e.iteration}", "lr 1e+06"):
        assert part in msg, f"{part!r} missing from {msg!r}"


def test_inf_in_a_later_batch_names_that_epoch_iteration_and_current_lr():
    # poison the 2nd batch of epoch 3 (0-based read 2·10 + 1): iteration 22, lr 0.05·0.5² there
    rec = Recorded(TRAIN[0], poison_call=2 * N_BATCHES + 1)
    trainer, _ = make_run("mlp_dropout", lr=0.05)
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged) as info:
        trainer.fit((rec, TRAIN[1]), VALID, epochs=4, batch_size=BATCH)
    msg = str(info.value)
    assert re.search(r"\bepoch 3\b", msg), msg
    assert re.search(r"\biteration 22\b", msg), msg
    assert re.search(r"\blr 0\.0125\b", msg), msg
    assert (info.value.epoch, info.value.iteration) == (2, 22)
    assert trainer.history.epochs_run == 2


# ----------------------------------------------------------------------------- progress
@pytest.fixture
def logged():
    """The library's log on stdout, as the command line shows it (``nnlib.logs.logging_to``)."""
    with logging_to("stdout"):
        yield


def test_progress_epoch_logs_one_line_per_epoch(capsys, logged):
    trainer, _ = make_run("mlp")
    trainer.progress = "epoch"
    trainer.fit(TRAIN, VALID, epochs=3, batch_size=BATCH)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3, f"expected 3 lines, got {lines}"
    for e, line in enumerate(lines, 1):
        assert line.startswith(f"epoch {e}/3:"), line


def test_epoch_lines_are_log_records_shown_only_where_a_handler_is(capsys, caplog):
    trainer, _ = make_run("mlp")
    trainer.progress = "epoch"
    with caplog.at_level(logging.INFO, logger="nnlib.lab.training"):
        trainer.fit(TRAIN, VALID, epochs=2, batch_size=BATCH)
    assert [r.name for r in caplog.records] == ["nnlib.lab.training"] * 2
    assert caplog.messages[1].startswith("epoch 2/2:")
    captured = capsys.readouterr()  # no handler of nnlib's own: nothing printed
    assert captured.out == captured.err == "", captured


def test_progress_bar_runs(capsys, logged):
    trainer, _ = make_run("mlp")
    trainer.progress = "bar"
    h = trainer.fit(TRAIN, VALID, epochs=2, batch_size=BATCH)
    assert h.epochs_run == 2
    out = capsys.readouterr().out
    assert len(re.findall(r"^epoch \d/2:", out, re.MULTILINE)) == 2, f"summary lines: {out!r}"


@pytest.mark.parametrize("env, expect_lines", [("off", 0), ("epoch", 2), ("OFF ", 0)])
def test_auto_progress_follows_nnlib_progress_env(monkeypatch, capsys, logged, env, expect_lines):
    monkeypatch.setenv("NNLIB_PROGRESS", env)
    trainer, _ = make_run("mlp")
    trainer.progress = "auto"
    trainer.fit(TRAIN, VALID, epochs=2, batch_size=BATCH)
    captured = capsys.readouterr()
    assert len(captured.out.strip().splitlines()) == expect_lines, captured.out
    if expect_lines == 0:
        assert captured.err == "", captured.err


@pytest.mark.parametrize("env, mode", [
    ({}, "epoch"),                                          # papermill, nbclient
    ({"JPY_SESSION_NAME": "a.ipynb"}, "bar"),               # JupyterLab's server started it
    ({"VSCODE_PID": "1"}, "bar"),                           # a VS Code notebook
    ({"VSCODE_PID": "1", "TERM_PROGRAM": "vscode"}, "epoch"),  # papermill in VS Code's terminal
    ({"JPY_SESSION_NAME": "a.ipynb", "NNLIB_PROGRESS": "epoch"}, "epoch")])
def test_auto_progress_in_a_kernel_draws_bars_only_for_a_front_end(monkeypatch, env, mode):
    """papermill's kernels have no front end: a tqdm widget would stay in the saved notebook."""
    import IPython
    from ipykernel.zmqshell import ZMQInteractiveShell

    from nnlib.lab.progress import kernel_front_end, progress_mode

    class ColabShell(ZMQInteractiveShell):  # shells of other front ends subclass the kernel's
        pass

    for name in [k for k in os.environ if k.startswith(("JPY_", "VSCODE_"))] + [
            "NNLIB_PROGRESS", "TERM_PROGRAM"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert kernel_front_end() is None  # pytest: no kernel
    monkeypatch.setattr(IPython, "get_ipython", lambda: ColabShell.__new__(ColabShell))
    assert progress_mode("auto") == mode


def test_progress_off_and_false_are_silent(capsys):
    for progress in ("off", False):
        trainer, _ = make_run("mlp")
        trainer.progress = progress
        trainer.fit(TRAIN, VALID, epochs=1, batch_size=BATCH)
        captured = capsys.readouterr()
        assert captured.out == captured.err == "", f"progress={progress!r}: {captured}"


# ----------------------------------------------------------------------------- argument errors
@pytest.mark.parametrize("train, valid, batch_size, match", [
    ((TRAIN[0], TRAIN[1][:-1]), VALID, BATCH, "train 300/299"),
    (TRAIN, (VALID[0][:50], VALID[1]), BATCH, "valid 50/100"),
    (TRAIN, VALID, 0, "batch_size"),
    (TRAIN, VALID, -4, "batch_size"),
    (TRAIN, VALID, 2.5, "batch_size"),
])
def test_fit_rejects_bad_arguments(train, valid, batch_size, match):
    trainer, _ = make_run("mlp")
    with pytest.raises(ValueError, match=match):
        trainer.fit(train, valid, epochs=1, batch_size=batch_size)
    assert trainer.history.epochs_run == 0


@pytest.mark.parametrize("eval_every", [0, -1, 2.0])
def test_trainer_rejects_bad_eval_every(eval_every):
    with pytest.raises(ValueError, match="eval_every"):
        make_run("mlp", eval_every=eval_every)


def test_early_stopping_on_valid_loss_restores_the_lowest_loss_weights():
    """monitor="valid_loss" must restore the epoch with the lowest validation loss, which need
    not be the epoch with the best validation accuracy."""

    class FakeModel:
        def __init__(self):
            self.w = np.zeros(1)

        def state_dict(self):
            return {"w": self.w.copy()}

    class FakeTrainer:
        def __init__(self):
            self.model = FakeModel()
            self.history = nnlib.lab.training.History()
            self.stop_training = False

    es = EarlyStopping(patience=5, monitor="valid_loss")
    t = FakeTrainer()
    for epoch, (loss, acc) in enumerate([(0.5, 0.90), (0.3, 0.91), (0.35, 0.95), (0.4, 0.93)]):
        t.model.w[:] = epoch
        t.history.epoch_valid_loss.append(loss)
        t.history.epoch_valid_acc.append(acc)
        es.on_epoch_end(t, epoch)
    assert es.best == 0.3 and es.wait == 2
    assert es.best_weights["w"][0] == 1  # epoch 1: lowest loss (accuracy peaked at epoch 2)
    state, arrays = es.state_dict()
    again = EarlyStopping(patience=5, monitor="valid_loss")
    again.load_state_dict(state, arrays)
    assert again.best_weights["w"][0] == 1 and again.wait == 2


def test_fit_rejects_empty_data():
    import nnlib.nn.models
    from nnlib.lab.training import Trainer
    from nnlib.nn.optim import SGD
    model = nnlib.nn.models.mlp([4, 3, 2])
    trainer = Trainer(model, SGD(model, 0.1), progress="off")
    x, y = np.zeros((5, 4), np.float32), np.zeros(5, np.int64)
    with pytest.raises(ValueError, match="empty data"):
        trainer.fit((x[:0], y[:0]), (x, y), epochs=1)
    with pytest.raises(ValueError, match="empty data"):
        trainer.fit((x, y), (x[:0], y[:0]), epochs=1)


@pytest.mark.parametrize("threads", [1, 2])
def test_training_runs_with_the_requested_blas_thread_count(threads):
    """Results depend on the BLAS library's thread count (its summation order), so the Trainer
    pins it for the whole fit, wherever it is called from."""
    from threadpoolctl import threadpool_info

    seen = []

    class Probe(Callback):
        def on_epoch_end(self, trainer, epoch):
            seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

    rng = np.random.default_rng(0)
    x, y = rng.random((64, 8), dtype=np.float32), rng.integers(0, 2, 64)
    model = mlp([8, 4, 2])
    Trainer(model, SGD(model, 0.1), callbacks=[Probe()], progress="off",
            threads=threads).fit((x, y), (x, y), epochs=1)
    assert seen and set(seen) == {threads}
    with pytest.raises(ValueError, match="threads"):
        Trainer(model, SGD(model, 0.1), threads=0)


def test_callback_hooks_run_in_order_around_training():
    calls = []

    class Probe(Callback):
        def __init__(self, name, order=0):
            self.name, self.order = name, order

        def on_train_begin(self, trainer):
            calls.append((self.name, "begin", trainer.history.epochs_run))

        def on_epoch_end(self, trainer, epoch):
            calls.append((self.name, "epoch", epoch))

        def on_train_end(self, trainer):
            calls.append((self.name, "end", trainer.history.epochs_run))

    trainer, _ = make_run(callbacks=[Probe("late", order=1), Probe("a"), Probe("b")])
    trainer.fit(TRAIN, VALID, epochs=2, batch_size=BATCH)
    assert calls == [("late", "begin", 0), ("a", "begin", 0), ("b", "begin", 0),
                     ("a", "epoch", 0), ("b", "epoch", 0), ("late", "epoch", 0),
                     ("a", "epoch", 1), ("b", "epoch", 1), ("late", "epoch", 1),
                     ("late", "end", 2), ("a", "end", 2), ("b", "end", 2)]
    assert Checkpoint.order > EarlyStopping.order  # checkpoints save the others' updates


def test_evaluation_uses_the_trainers_loss():
    class Halved(CrossEntropyLoss):
        def __call__(self, logits, labels):
            return super().__call__(logits, labels) / 2

    trainer, _ = make_run()
    plain_loss, acc = trainer.evaluate(*VALID)
    trainer.loss = Halved()
    halved_loss, acc2 = trainer.evaluate(*VALID)
    assert halved_loss == pytest.approx(plain_loss / 2) and acc2 == acc


def test_any_object_with_some_hooks_is_a_callback():
    seen = []

    class OnlyEpochEnd:  # not a Callback subclass: no order, no begin/end hooks
        def on_epoch_end(self, trainer, epoch):
            seen.append(epoch)

    trainer, _ = make_run(callbacks=[OnlyEpochEnd()])
    trainer.fit(TRAIN, VALID, epochs=2, batch_size=BATCH)
    assert seen == [0, 1]
