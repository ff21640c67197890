"""GEME's emotion + gender training, and models refused before a run folder is written."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mer3d.cli import main
from mer3d.inference.recognizer import Recognizer
from mer3d.models import create_model
from mer3d.training.trainer import training_loss

TINY_MODEL = dict(frames=8, size=32, width=0.25, hidden=16)


def test_multitask_loss_is_the_sum_of_both_cross_entropies_and_trains_the_gender_head():
    torch.manual_seed(0)
    model = create_model("geme", num_classes=3, **TINY_MODEL)
    x, y = torch.randn(4, 1, 8, 32, 32), torch.tensor([[0, 1], [1, 0], [2, 1], [0, 0]])
    loss, logits, emotion = training_loss(model.eval(), x, y)
    expected_emotion, expected_gender = model.forward_multitask(x)
    assert loss.item() == pytest.approx((F.cross_entropy(expected_emotion, y[:, 0])
                                         + F.cross_entropy(expected_gender, y[:, 1])).item(), rel=1e-6)
    assert torch.equal(emotion, y[:, 0]) and logits.shape == (4, 3)
    loss.backward()
    assert model.gender_head.dense2.weight.grad.abs().sum() > 0

    model.zero_grad(set_to_none=True)
    loss, _, _ = training_loss(model, x, y[:, 0])        # emotion targets alone: no gender gradient
    loss.backward()
    assert model.gender_head.dense2.weight.grad is None


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr()


def train_args(root, out, overrides, *extra):
    sets = [a for o in overrides + ["train.epochs=1", "protocol.name=kfold", "protocol.k=2", *extra]
            for a in ("--set", o)]
    return ["train", "--preset", "paper-casme2", "--root", root, "--out", out, *sets]


def test_geme_trains_on_emotion_and_gender_from_a_subject_table(capsys, tmp_path, demo_root, tiny_overrides):
    table = tmp_path / "genders.csv"
    table.write_text("subject,gender\nsub01,f\nsub02,m\nsub03,f\nsub04,m\n")
    run = tmp_path / "geme"
    code, out = cli(capsys, *train_args(demo_root, run, tiny_overrides, "model.name=geme"), "--genders", table)
    assert code == 0, out.err
    metrics = json.loads((run / "metrics.json").read_text())
    assert sum(map(sum, metrics["confusion_matrix"])) == 24
    assert json.loads((run / "model.json").read_text())["architecture"]["name"] == "geme"
    frames = [np.full((32, 32, 3), 128, np.uint8)] * 8
    prediction = Recognizer.from_pretrained(run).predict_clip(frames, face_crop=False)    # gender is never an input
    assert list(prediction.probabilities) == metrics["classes"]


@pytest.mark.parametrize("settings, message", [
    (["model.name=geme"], "model geme learns each subject's gender beside the emotion, but 4 of 4 subjects have "
                          "none (first: 01); add a 'gender' column"),
    (["model.options.modee=apex"], "model vgg3d has no option 'modee' (its options: none)"),
    (["model.name=cnn2d", "model.options.modee=apex"], "model cnn2d has no option 'modee' (its options: tim_frames, mode)"),
    (["model.name=geme", "model.options={stream_width: 0}"], "geme stream_width must be a positive number, not 0"),
])
def test_unusable_model_is_refused_before_the_run_folder_exists(capsys, tmp_path, demo_root, tiny_overrides,
                                                                settings, message):
    run = tmp_path / "refused"
    code, out = cli(capsys, *train_args(demo_root, run, tiny_overrides, *settings))
    assert code == 2 and message in out.err and len(out.err.strip().splitlines()) == 1
    assert not run.exists()
