"""Learning-rate schedules: exact per-epoch sequences (written out by hand, matching PyTorch's
schedulers stepped once per epoch), step() driving optimizer.lr, state round trip, bad args."""
import math

import numpy as np
import pytest

import nnlib
from nnlib.nn.optim import SGD
from nnlib.nn.schedules import (
    ConstantLR,
    CosineLR,
    ExponentialLR,
    MultiStepLR,
    StepLR,
    build_schedule,
)


def opt(lr=0.1):
    return SGD(nnlib.Sequential(nnlib.Linear(2, 2)), lr)


R2 = math.sqrt(2) / 2
CASES = {
    # torch.optim.lr_scheduler.StepLR(step_size=2, gamma=0.1) from lr 0.1
    "steplr": (lambda o: StepLR(o, step_size=2, gamma=0.1), 0.1,
               [0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 1e-4]),
    "steplr3": (lambda o: StepLR(o, step_size=3, gamma=0.5), 1.0,
                [1, 1, 1, 0.5, 0.5, 0.5, 0.25]),
    # MultiStepLR(milestones=[2, 5], gamma=0.1): decays when the epoch reaches each milestone
    "multisteplr": (lambda o: MultiStepLR(o, [2, 5], gamma=0.1), 0.1,
                    [0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001, 0.001]),
    "exponentiallr": (lambda o: ExponentialLR(o, gamma=0.5), 0.8,
                      [0.8, 0.4, 0.2, 0.1, 0.05, 0.025]),
    # CosineAnnealingLR(T_max=4, eta_min=0.001) from 0.1: 0.001 + 0.099·(1 + cos(π·e/4))/2
    "cosine": (lambda o: CosineLR(o, T_max=4, eta_min=0.001), 0.1,
               [0.1, 0.001 + 0.099 * (1 + R2) / 2, 0.001 + 0.099 / 2,
                0.001 + 0.099 * (1 - R2) / 2, 0.001]),
    # eta_min 0: lr reaches exactly 0 at T_max, then (closed form) rises again
    "cosine_eta0": (lambda o: CosineLR(o, T_max=2), 0.2, [0.2, 0.1, 0.0, 0.1, 0.2]),
    "constant": (lambda o: ConstantLR(o), 0.3, [0.3] * 5),
}


@pytest.mark.parametrize("kind", CASES)
def test_lr_at_matches_the_formula(kind):
    make, base, expected = CASES[kind]
    sched = make(opt(base))
    got = [sched.lr_at(e) for e in range(len(expected))]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15,
                               err_msg=f"{kind}: lr_at(0..{len(expected) - 1})")


@pytest.mark.parametrize("kind", CASES)
def test_step_sets_optimizer_lr(kind):
    make, base, expected = CASES[kind]
    o = opt(base)
    sched = make(o)
    assert o.lr == base, f"{kind}: constructing the schedule changed the lr"
    for epoch, lr in enumerate(expected[1:], start=1):
        returned = sched.step()
        assert math.isclose(o.lr, lr, rel_tol=1e-12, abs_tol=1e-15), \
            f"{kind}: after {epoch} step(s) optimizer.lr = {o.lr}, expected {lr}"
        assert returned == o.lr == sched.get_last_lr()
        assert sched.last_epoch == epoch


def test_cosine_continues_past_t_max_like_pytorch_closed_form():
    sched = CosineLR(opt(0.1), T_max=4, eta_min=0.001)
    assert math.isclose(sched.lr_at(5), sched.lr_at(3), rel_tol=1e-12)
    assert math.isclose(sched.lr_at(8), 0.1, rel_tol=1e-12)


def test_steplr_from_zero_based_epochs_matches_the_report():
    # the report: lr 0.01, step 5, gamma 0.1 over 10 epochs → five at 0.01, five at 0.001
    sched = StepLR(opt(0.01), 5, 0.1)
    got = [sched.lr_at(e) for e in range(10)]
    np.testing.assert_allclose(got, [0.01] * 5 + [0.001] * 5, rtol=1e-12)


@pytest.mark.parametrize("kind", CASES)
def test_state_dict_round_trip(kind):
    make, base, expected = CASES[kind]
    a = make(opt(base))
    for _ in range(3):
        a.step()
    state = a.state_dict()
    assert state["type"] == type(a).__name__ and state["last_epoch"] == 3
    o = opt(0.5 if base != 0.5 else 0.7)    # a fresh optimizer at some other lr
    b = make(o)
    b.load_state_dict(state)
    assert math.isclose(o.lr, expected[3], rel_tol=1e-12, abs_tol=1e-15), \
        f"{kind}: lr after load_state_dict is {o.lr}, expected {expected[3]}"
    for _ in range(len(expected) - 4):
        assert b.step() == a.step()


@pytest.mark.parametrize("make", [lambda m: nnlib.Momentum(m, 0.1), lambda m: nnlib.Adam(m, 0.1)])
def test_optimizer_state_after_cosine_annealed_to_zero_can_be_restored(make):
    # regression: CosineLR(T_max=epochs, eta_min=0) sets lr = 0.0 after the last epoch; a
    # checkpoint taken then must load (Optimizer.load_state_dict used to reject lr 0)
    model = nnlib.Sequential(nnlib.Linear(2, 2))
    o = make(model)
    sched = CosineLR(o, T_max=2)
    sched.step()
    sched.step()
    assert o.lr == 0.0
    fresh = make(model)
    fresh.load_state_dict(o.state_dict())
    assert fresh.lr == 0.0
    b = CosineLR(fresh, T_max=2)
    b.load_state_dict(sched.state_dict())
    assert fresh.lr == 0.0 and b.step() == pytest.approx(0.05)  # epoch 3 of the closed form


def test_load_state_dict_of_another_type_raises():
    with pytest.raises(ValueError, match="StepLR"):
        ExponentialLR(opt(), 0.5).load_state_dict(StepLR(opt(), 2).state_dict())


@pytest.mark.parametrize("make,arg", [
    (lambda o: StepLR(o, 0), "step_size"),
    (lambda o: StepLR(o, 1.5), "step_size"),
    (lambda o: StepLR(o, None), "step_size"),
    (lambda o: StepLR(o, 2, gamma=0), "gamma"),
    (lambda o: StepLR(o, 2, gamma=-0.5), "gamma"),
    (lambda o: StepLR(o, 2, gamma=float("nan")), "gamma"),
    (lambda o: MultiStepLR(o, [5, 2]), "milestones"),
    (lambda o: MultiStepLR(o, [2, 2]), "milestones"),
    (lambda o: MultiStepLR(o, [0, 3]), "milestones"),
    (lambda o: MultiStepLR(o, [1.5]), "milestones"),
    (lambda o: MultiStepLR(o, [2], gamma=0), "gamma"),
    (lambda o: ExponentialLR(o, 0), "gamma"),
    (lambda o: ExponentialLR(o, -1), "gamma"),
    (lambda o: CosineLR(o, 0), "T_max"),
    (lambda o: CosineLR(o, 2.5), "T_max"),
    (lambda o: CosineLR(o, 4, eta_min=-0.1), "eta_min"),
])
def test_bad_arguments_raise_naming_them(make, arg):
    with pytest.raises(ValueError, match=arg):
        make(opt())


@pytest.mark.parametrize("cfg,cls,attrs", [
    (None, ConstantLR, {}),
    ({"type": "none"}, ConstantLR, {}),
    ({"type": "steplr", "step_size": 2, "gamma": 0.5}, StepLR, {"step_size": 2, "gamma": 0.5}),
    ({"type": "multisteplr", "milestones": [2, 5], "gamma": 0.1}, MultiStepLR,
     {"milestones": [2, 5], "gamma": 0.1}),
    ({"type": "exponentiallr", "gamma": 0.9}, ExponentialLR, {"gamma": 0.9}),
    ({"type": "cosine", "T_max": 10, "eta_min": None}, CosineLR, {"T_max": 10, "eta_min": 0.0}),
])
def test_build_schedule(cfg, cls, attrs):
    o = opt(0.1)
    sched = build_schedule(cfg, o)
    assert type(sched) is cls and sched.optimizer is o and sched.base_lr == 0.1
    for k, v in attrs.items():
        assert getattr(sched, k) == v, k


def test_build_schedule_errors():
    with pytest.raises(ValueError, match="plateau"):
        build_schedule({"type": "plateau"}, opt())
    with pytest.raises(ValueError, match="step_size"):
        build_schedule({"type": "steplr"}, opt())
