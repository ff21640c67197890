import torch

from mer3d.training.optim import PaperSchedule, make_optimizer, make_scheduler

TRAIN = {"optimizer": "sgd", "lr": 1e-4, "momentum": 0.9, "weight_decay": 0.0, "lr_halve_every": 20000,
         "lr_decay": 1e-10}


def test_learning_rate_halves_every_20000_iterations():
    schedule = PaperSchedule(20000, 0.0)
    assert schedule(0) == 1.0 and schedule(19999) == 1.0
    assert schedule(20000) == 0.5 and schedule(45000) == 0.25


def test_keras_decay_is_applied_per_iteration():
    assert PaperSchedule(20000, 1e-3)(1000) == 1.0 / (1.0 + 1.0)


def test_scheduler_steps_per_iteration_and_survives_a_state_round_trip():
    model = torch.nn.Linear(2, 2)
    optimizer = make_optimizer(model, {**TRAIN, "lr_halve_every": 3, "lr_decay": 0.0})
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["momentum"] == 0.9
    scheduler = make_scheduler(optimizer, {**TRAIN, "lr_halve_every": 3, "lr_decay": 0.0})
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == 5e-5
    restored = make_scheduler(make_optimizer(model, TRAIN), TRAIN)
    restored.load_state_dict(scheduler.state_dict())
    assert restored.last_epoch == 4 and restored.lr_lambdas[0].halve_every == 3
