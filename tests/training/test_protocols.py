"""Protocols: no fold ever trains or validates on a subject it tests on."""
import numpy as np
import pytest

from mer3d.errors import UserError
from mer3d.training.protocols import (
    Fold, assert_subject_independent, fixed_split, kfold_subject_splits, loso_splits, make_folds,
    with_validation,
)


def random_subjects(n_clips=90, n_subjects=13, seed=7):
    """Clip-order subject list: every subject repeated, in shuffled order."""
    rng = np.random.default_rng(seed)
    names = [f"{i:02d}" for i in range(1, n_subjects + 1)]
    subjects = names + list(rng.choice(names, size=n_clips - n_subjects))
    rng.shuffle(subjects)
    return [str(s) for s in subjects]


def subjects_of(indices, subjects):
    return {subjects[i] for i in indices}


def assert_every_clip_tested_once(folds, subjects):
    tested = sorted(i for fold in folds for i in fold.test)
    assert tested == list(range(len(subjects)))


def test_loso_holds_out_exactly_one_subject_per_fold():
    subjects = random_subjects()
    folds = loso_splits(subjects)
    assert len(folds) == 13
    for fold in folds:
        (held_out,) = fold.test_subjects
        assert subjects_of(fold.test, subjects) == {held_out}
        assert held_out not in subjects_of(fold.train, subjects)
        assert fold.name == f"sub{held_out}"
        assert sorted(fold.train + fold.test) == list(range(len(subjects)))
    assert_every_clip_tested_once(folds, subjects)
    assert_subject_independent(folds, subjects)


def test_loso_orders_subjects_numerically_and_names_folds_safely():
    assert [f.name for f in loso_splits(["10", "2", "1", "2"])] == ["sub1", "sub2", "sub10"]
    assert [f.name for f in loso_splits(["sub01", "sub02"])] == ["sub01", "sub02"]
    assert [f.name for f in loso_splits(["casme2/sub01", "samm/006", "s1"])] == ["casme2_sub01", "s1", "samm_006"]


def test_loso_needs_two_subjects():
    with pytest.raises(UserError):
        loso_splits(["01", "01", "01"])
    with pytest.raises(UserError):
        loso_splits([])


def test_kfold_tests_every_clip_once_with_whole_subjects():
    subjects = random_subjects()
    folds = kfold_subject_splits(subjects, k=4, seed=3)
    assert len(folds) == 4
    group_sizes = [len(f.test_subjects) for f in folds]
    assert sum(group_sizes) == 13 and max(group_sizes) - min(group_sizes) <= 1
    for fold in folds:
        assert subjects_of(fold.test, subjects) == set(fold.test_subjects)
        assert not subjects_of(fold.train, subjects) & set(fold.test_subjects)
    assert_every_clip_tested_once(folds, subjects)


def test_kfold_is_deterministic_per_seed():
    subjects = random_subjects()
    assert kfold_subject_splits(subjects, 4, seed=1) == kfold_subject_splits(subjects, 4, seed=1)
    groups = lambda seed: [f.test_subjects for f in kfold_subject_splits(subjects, 4, seed)]
    assert groups(1) != groups(2)


@pytest.mark.parametrize("k", [14, 1, None])
def test_kfold_rejects_bad_k(k):
    with pytest.raises(UserError):
        kfold_subject_splits(random_subjects(), k, seed=0)


def test_fixed_split():
    subjects = ["01", "02", "03", "01", "02", "03"]
    (fold,) = fixed_split(subjects, ["02"])
    assert fold.name == "split"
    assert fold.test == (1, 4) and fold.train == (0, 2, 3, 5)
    assert fold.test_subjects == ("02",)


@pytest.mark.parametrize("test_subjects, message", [
    (["02", "99"], "'99'"),
    ([], "empty"),
    (["01", "02", "03"], "nothing is left to train"),
])
def test_fixed_split_errors(test_subjects, message):
    with pytest.raises(UserError, match=message):
        fixed_split(["01", "02", "03", "01"], test_subjects)


def test_validation_moves_whole_training_subjects_never_test_ones():
    subjects = random_subjects()
    for fold in loso_splits(subjects):
        split = with_validation(fold, subjects, fraction=0.25, seed=5)
        # 12 training subjects * 0.25 = 3 validation subjects
        assert len(split.val_subjects) == 3
        assert subjects_of(split.val, subjects) == set(split.val_subjects)
        assert not subjects_of(split.val, subjects) & subjects_of(split.train, subjects)
        assert not subjects_of(split.val, subjects) & set(fold.test_subjects)
        assert sorted(split.train + split.val) == sorted(fold.train)
        assert split.test == fold.test


def test_validation_count_rounding():
    subjects = random_subjects()
    fold = loso_splits(subjects)[0]            # 12 training subjects
    assert with_validation(fold, subjects, 0.0, seed=0) == fold
    assert len(with_validation(fold, subjects, 0.01, seed=0).val_subjects) == 1   # at least one
    assert len(with_validation(fold, subjects, 0.125, seed=0).val_subjects) == 2  # 1.5 rounds up
    assert len(with_validation(fold, subjects, 0.99, seed=0).val_subjects) == 11  # one left to train


def test_validation_impossible_with_one_training_subject():
    fold = loso_splits(["01", "02"])[0]
    assert with_validation(fold, ["01", "02"], 0.5, seed=0) == fold


def test_validation_fraction_out_of_range():
    fold = loso_splits(["01", "02", "03"])[0]
    with pytest.raises(UserError):
        with_validation(fold, ["01", "02", "03"], 1.0, seed=0)


@pytest.mark.parametrize("protocol, n_folds", [
    ({"name": "loso", "k": 5, "test_subjects": []}, 13),
    ({"name": "kfold", "k": 5, "test_subjects": []}, 5),
    ({"name": "split", "k": 5, "test_subjects": ["03", "11"]}, 1),
])
def test_make_folds_with_validation_is_subject_independent(protocol, n_folds):
    subjects = random_subjects()
    folds = make_folds(protocol, subjects, seed=0, val_fraction=0.2)
    assert len(folds) == n_folds
    for fold in folds:
        assert fold.val and not subjects_of(fold.val, subjects) & subjects_of(fold.test, subjects)
    if protocol["name"] != "split":
        assert_every_clip_tested_once(folds, subjects)


def test_make_folds_unknown_protocol():
    with pytest.raises(UserError, match="protocol.name"):
        make_folds({"name": "random"}, ["01", "02"], seed=0)


def test_guard_catches_a_leaky_fold():
    subjects = ["01", "01", "02", "02"]
    leaky = Fold("leak", train=(0, 2), test=(1, 3))
    with pytest.raises(AssertionError, match="leak"):
        assert_subject_independent([leaky], subjects)
    leaky_val = Fold("leakval", train=(2,), test=(0,), val=(1,))
    with pytest.raises(AssertionError, match="leakval"):
        assert_subject_independent([leaky_val], subjects)


def test_guard_catches_clips_tested_twice_or_never():
    subjects = ["01", "02", "03"]
    twice = [Fold("a", (1, 2), (0,)), Fold("b", (1, 2), (0,))]
    with pytest.raises(AssertionError, match="more than one"):
        assert_subject_independent(twice, subjects)
    never = [Fold("a", (1, 2), (0,)), Fold("b", (0, 2), (1,))]
    with pytest.raises(AssertionError, match="never tested"):
        assert_subject_independent(never, subjects)
    assert_subject_independent(never[:1], subjects)   # a single split tests only its subjects


def test_leave_one_dataset_out_tests_each_part_once():
    subjects = ["casme2/sub01", "casme2/sub02", "samm/006", "smic/s1", "smic/s2"]
    parts = ["casme2", "casme2", "samm", "smic", "smic"]
    folds = make_folds({"name": "lodo"}, subjects, seed=0, parts=parts)
    assert [(f.name, f.train, f.test) for f in folds] == [
        ("casme2", (2, 3, 4), (0, 1)), ("samm", (0, 1, 3, 4), (2,)), ("smic", (0, 1, 2), (3, 4))]
    assert_every_clip_tested_once(folds, subjects)


def test_cross_dataset_trains_on_some_parts_and_tests_on_others():
    subjects = ["casme2/sub01", "samm/006", "samm/007", "smic/s1"]
    parts = ["casme2", "samm", "samm", "smic"]
    (fold,) = make_folds({"name": "cross", "train_parts": ["casme2", "smic"], "test_parts": ["samm"]},
                         subjects, seed=0, parts=parts)
    assert (fold.name, fold.train, fold.test, fold.test_subjects) == (
        "casme2+smic-to-samm", (0, 3), (1, 2), ("samm/006", "samm/007"))
    with pytest.raises(UserError, match="no clips of dataset 'casme3'"):
        make_folds({"name": "cross", "train_parts": ["casme3"], "test_parts": ["samm"]}, subjects, 0, parts=parts)


def test_dataset_protocols_need_parts():
    with pytest.raises(UserError, match="needs a dataset of several parts"):
        make_folds({"name": "lodo"}, ["1", "2"], seed=0)
    with pytest.raises(UserError, match="at least 2 datasets"):
        make_folds({"name": "lodo"}, ["1", "2"], seed=0, parts=["smic", "smic"])
