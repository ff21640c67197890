import numpy as np
import pytest
import torch

from mer3d.data.augment import apply_augmentation, augmentation_plan
from mer3d.data.clips import EvalClips, TrainClips, batch_bounds
from mer3d.data.representation import to_network_input
from mer3d.errors import UserError

FRAMES = 8


def make_clips(lengths=(12, 5, 8), size=10, seed=0):
    """Smooth uint8 clips (T, size, size, 1) that differ from frame to frame."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    clips = []
    for length in lengths:
        phase = rng.uniform(0, 6)
        frames = [100 + 50 * np.sin(x / 2 + phase + t / 3) * np.cos(y / 3) for t in range(length)]
        clips.append(np.stack(frames)[..., None].astype(np.uint8))
    return clips


def train_set(representation="gray", plan=None, lengths=(12, 5, 8)):
    clips = make_clips(lengths)
    return TrainClips(clips, list(range(len(clips))), FRAMES, representation, plan or augmentation_plan())


def test_epoch_order_has_every_clip_version_once_with_valid_starts():
    train = train_set()
    order = train.epoch_order(torch.Generator().manual_seed(0))
    assert len(train) == len(order) == 30
    assert sorted((c, v) for c, v, _ in order) == [(c, v) for c in range(3) for v in range(10)]
    limits = {0: 12 - FRAMES, 1: 0, 2: 0}  # the 5-frame clip is stretched to FRAMES
    assert all(0 <= start <= limits[c] for c, _, start in order)
    assert {start for c, _, start in order if c == 0} != {0}  # starts are really drawn
    assert [c for c, _, _ in order] != sorted(c for c, _, _ in order)  # and the order shuffled


def test_epoch_order_is_reproducible_from_the_generator_seed():
    train = train_set()
    first = train.epoch_order(torch.Generator().manual_seed(7))
    assert first == train.epoch_order(torch.Generator().manual_seed(7))
    assert first != train.epoch_order(torch.Generator().manual_seed(8))


@pytest.mark.parametrize("representation", ["gray", "diff"])
def test_sample_augments_the_window_and_its_reference_like_the_whole_clip(representation):
    plan = augmentation_plan()
    train = train_set(representation, plan)
    clip = train.clips[0]
    for version in (5, 3, 9):  # flipped; rotated; flipped and rotated
        whole = TrainClips([apply_augmentation(clip, *plan[version])], [0], FRAMES, representation, [(False, 0.0)])
        expected = whole.sample(0, 0, 2)
        assert torch.allclose(train.sample(0, version, 2), expected, atol=1e-5)
    assert torch.allclose(train.sample(0, 5, 2), train.sample(0, 0, 2).flip(-1), atol=1e-5)


def test_sample_shape_and_short_clip_is_stretched():
    train = train_set()
    x = train.sample(1, 0, 0)
    assert x.shape == (1, FRAMES, 10, 10) and x.dtype == torch.float32
    assert len(train.clips[1]) == FRAMES


def test_train_batches_drop_the_incomplete_last_batch():
    train = train_set(plan=[(False, 0.0), (True, 0.0)])
    order = train.epoch_order(torch.Generator().manual_seed(0))
    batches = list(train.batches(order, 4))
    assert len(batches) == 1
    x, y = batches[0]
    assert x.shape == (4, 1, FRAMES, 10, 10) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.tolist() == [c for c, _, _ in order[:4]]
    assert torch.equal(x[1], train.sample(*order[1]))
    assert [len(y) for _, y in train.batches(order, 4, drop_last=False)] == [4, 2]


def test_fold_smaller_than_a_batch_still_trains_unless_single():
    train = train_set(plan=[(False, 0.0)])
    order = train.epoch_order(torch.Generator().manual_seed(0))
    assert [len(y) for _, y in train.batches(order, 16)] == [3]
    assert list(train.batches(order[:1], 16)) == []


def test_resuming_skips_the_batches_already_done():
    train = train_set(plan=[(False, 0.0), (True, 0.0)])
    order = train.epoch_order(torch.Generator().manual_seed(0))
    full = list(train.batches(order, 2))
    resumed = list(train.batches(order, 2, start_batch=1))
    assert len(resumed) == len(full) - 1
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(full[1:], resumed))


def test_batch_bounds():
    assert batch_bounds(10, 4) == [(0, 4), (4, 8)]
    assert batch_bounds(10, 4, drop_last=False) == [(0, 4), (4, 8), (8, 10)]
    assert batch_bounds(3, 16) == [(0, 3)]
    assert batch_bounds(1, 16) == []
    assert batch_bounds(0, 4) == []


def test_eval_item_is_the_window_centred_on_the_apex():
    clips = make_clips((30, 20))
    evaluation = EvalClips(clips, [1, 0], [20, None], FRAMES, "diff")
    x, label = evaluation[0]
    assert x.shape == (1, 1, FRAMES, 10, 10) and label == 1
    assert torch.equal(x[0], to_network_input(clips[0][16:24], clips[0][0], "diff"))
    middle, _ = evaluation[1]
    assert torch.equal(middle[0], to_network_input(clips[1][6:14], clips[1][0], "diff"))


def test_eval_with_several_windows_and_batches():
    clips = make_clips((30, 20, 5))
    evaluation = EvalClips(clips, [2, 0, 1], [None, 3, None], FRAMES, "gray", windows=3)
    assert len(evaluation) == 3
    assert evaluation[0][0].shape == (3, 1, FRAMES, 10, 10)
    assert torch.equal(evaluation[0][0][2], to_network_input(clips[0][22:30], clips[0][0], "gray"))
    batches = list(evaluation.batches(2))
    assert [x.shape for x, _ in batches] == [(2, 3, 1, FRAMES, 10, 10), (1, 3, 1, FRAMES, 10, 10)]
    assert torch.cat([y for _, y in batches]).tolist() == [2, 0, 1]
    assert torch.equal(batches[1][0][0], evaluation[2][0])


def test_mismatched_inputs_are_rejected():
    clips = make_clips((12,))
    with pytest.raises(ValueError):
        TrainClips(clips, [0, 1], FRAMES, "gray", augmentation_plan())
    with pytest.raises(ValueError):
        EvalClips(clips, [0], [None, None], FRAMES, "gray")
    with pytest.raises(UserError, match="representation"):
        TrainClips(clips, [0], FRAMES, "sparkles", augmentation_plan())
