"""Evaluation protocols that are subject-independent by construction.

Every split works on whole subjects: the clips of a subject are always together in one of a fold's
train, validation or test sets, so a model is never scored on a person it was trained or tuned on.
Folds hold indices into the clip list; ``subjects`` everywhere is the subject of each clip, in
clip order (so it repeats), and ``parts`` the dataset each clip comes from (composite benchmarks,
whose subjects are namespaced per part, so whole datasets are whole subjects too).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from ..errors import UserError

PROTOCOLS = ("loso", "kfold", "split", "lodo", "cross")


@dataclass(frozen=True)
class Fold:
    """One train/test split. ``train``, ``test`` and ``val`` are indices into the clip list."""

    name: str
    train: tuple[int, ...]
    test: tuple[int, ...]
    val: tuple[int, ...] = ()
    test_subjects: tuple[str, ...] = ()
    val_subjects: tuple[str, ...] = ()


def _natural_key(subject: str) -> tuple[list, str]:
    # Subjects are numbered ('2' before '10', 's2' before 's10'); plain string order would not be.
    # re.split with a capture group alternates text and digits, so the keys always compare; the
    # subject itself breaks ties ('1' vs '01') so the order never depends on set iteration order.
    parts = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", subject)]
    return parts, subject


def _as_strings(subjects: Sequence) -> list[str]:
    if len(subjects) == 0:
        raise UserError("no clips to split into folds")
    return [str(subject) for subject in subjects]


def _unique_sorted(subjects: Sequence[str]) -> list[str]:
    return sorted(set(subjects), key=_natural_key)


def _fold(name: str, subjects: Sequence[str], test_subjects: Sequence[str]) -> Fold:
    """Test on every clip of ``test_subjects``, train on all other clips."""
    held_out = set(test_subjects)
    test = tuple(i for i, subject in enumerate(subjects) if subject in held_out)
    train = tuple(i for i, subject in enumerate(subjects) if subject not in held_out)
    return Fold(name, train, test, test_subjects=tuple(sorted(held_out, key=_natural_key)))


def _loso_name(subject: str) -> str:
    # Fold names become folder names: keep them to safe characters, and CASME II's '01' -> 'sub01'
    # (a name that starts with a letter, 's1' or 'casme2/sub01', is kept).
    safe = re.sub(r"[^\w.-]+", "_", subject)
    return f"sub{safe}" if safe[:1].isdigit() else safe


def loso_splits(subjects: Sequence[str]) -> list[Fold]:
    """Leave-one-subject-out: one fold per subject, in natural subject order, named ``sub<id>``."""
    subjects = _as_strings(subjects)
    unique = _unique_sorted(subjects)
    if len(unique) < 2:
        raise UserError(f"leave-one-subject-out needs at least 2 subjects, found {len(unique)}")
    names = [_loso_name(subject) for subject in unique]
    clash = [name for name, count in Counter(names).items() if count > 1]
    if clash:
        raise UserError(f"subjects give the same fold name '{clash[0]}'; rename the subjects")
    return [_fold(name, subjects, [subject]) for name, subject in zip(names, unique)]


def kfold_subject_splits(subjects: Sequence[str], k: int, seed: int) -> list[Fold]:
    """Subject-wise k-fold: subjects are shuffled with ``numpy.random.default_rng(seed)`` and dealt
    round-robin into ``k`` groups (sizes differ by at most one); fold ``i`` tests group ``i``."""
    subjects = _as_strings(subjects)
    unique = _unique_sorted(subjects)
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise UserError(f"protocol.k must be an integer >= 2, got {k!r}")
    if k > len(unique):
        raise UserError(f"protocol.k = {k} is more than the {len(unique)} subjects")
    order = np.random.default_rng(seed).permutation(len(unique))
    shuffled = [unique[i] for i in order]
    return [_fold(f"fold{i + 1}", subjects, shuffled[i::k]) for i in range(k)]


def fixed_split(subjects: Sequence[str], test_subjects: Sequence[str]) -> list[Fold]:
    """One fold named ``split`` testing on the given subjects and training on all others."""
    subjects = _as_strings(subjects)
    wanted = [str(subject) for subject in test_subjects]
    if not wanted:
        raise UserError("protocol.test_subjects is empty; name the subjects to test on")
    known = set(subjects)
    unknown = [subject for subject in wanted if subject not in known]
    if unknown:
        raise UserError(f"protocol.test_subjects: unknown subject '{unknown[0]}'")
    if known <= set(wanted):
        raise UserError("protocol.test_subjects holds every subject; nothing is left to train on")
    return [_fold("split", subjects, wanted)]


def leave_one_dataset_out(subjects: Sequence[str], parts: Sequence[str]) -> list[Fold]:
    """One fold per dataset, named ``<part>``: test on every clip of it, train on the others."""
    subjects, parts = _as_strings(subjects), [str(part) for part in parts]
    unique = list(dict.fromkeys(parts))
    if len(unique) < 2:
        raise UserError(f"leave-one-dataset-out needs clips of at least 2 datasets, found {unique}")
    return [_part_fold(part, subjects, parts, [p for p in unique if p != part], [part]) for part in unique]


def cross_dataset(subjects: Sequence[str], parts: Sequence[str], train_parts: Sequence[str],
                  test_parts: Sequence[str]) -> list[Fold]:
    """One fold named ``<train>-to-<test>``: train on the clips of ``train_parts``, test on those
    of ``test_parts``; clips of other parts are not used."""
    subjects, parts = _as_strings(subjects), [str(part) for part in parts]
    for wanted in (*train_parts, *test_parts):
        if wanted not in parts:
            raise UserError(f"protocol: no clips of dataset '{wanted}' (found: {', '.join(dict.fromkeys(parts))})")
    name = f"{'+'.join(train_parts)}-to-{'+'.join(test_parts)}"
    return [_part_fold(name, subjects, parts, train_parts, test_parts)]


def _part_fold(name: str, subjects: list[str], parts: list[str], train_parts, test_parts) -> Fold:
    test = tuple(i for i, part in enumerate(parts) if part in test_parts)
    train = tuple(i for i, part in enumerate(parts) if part in train_parts)
    return Fold(name, train, test, test_subjects=tuple(_unique_sorted(subjects[i] for i in test)))


def _validation_count(fraction: float, n_train_subjects: int) -> int:
    """round(fraction * n), half up, at least 1, always leaving at least one subject to train on."""
    if fraction <= 0 or n_train_subjects < 2:
        return 0
    wanted = math.floor(fraction * n_train_subjects + 0.5)
    return min(max(wanted, 1), n_train_subjects - 1)


def with_validation(fold: Fold, subjects: Sequence[str], fraction: float, seed: int) -> Fold:
    """Move whole training subjects of ``fold`` into its validation set.

    The count is ``round(fraction * training subjects)`` rounded half up, at least 1 when
    ``fraction > 0``, and never all of them; with fewer than two training subjects, or
    ``fraction == 0``, the fold is returned unchanged. Only training subjects are candidates, so
    validation never sees a test subject.
    """
    if not 0.0 <= fraction < 1.0:
        raise UserError(f"train.val_fraction must be in [0, 1), got {fraction}")
    subjects = _as_strings(subjects)
    train_subjects = _unique_sorted(subjects[i] for i in fold.train)
    count = _validation_count(fraction, len(train_subjects))
    if count == 0:
        return fold
    chosen = np.random.default_rng(seed).choice(len(train_subjects), size=count, replace=False)
    val_subjects = {train_subjects[i] for i in chosen}
    return replace(
        fold,
        train=tuple(i for i in fold.train if subjects[i] not in val_subjects),
        val=tuple(i for i in fold.train if subjects[i] in val_subjects),
        val_subjects=tuple(sorted(val_subjects, key=_natural_key)),
    )


def make_folds(protocol: dict, subjects: Sequence[str], seed: int, val_fraction: float = 0.0,
               parts: Sequence[str] | None = None) -> list[Fold]:
    """Folds for the config's ``protocol`` section (``name``: loso | kfold | split | lodo | cross,
    ``k``, ``test_subjects``, ``train_parts``, ``test_parts``), each with ``val_fraction`` of its
    training subjects held out for validation. ``parts`` (each clip's dataset) is needed by lodo
    and cross. The result is checked with :func:`assert_subject_independent`."""
    name = protocol.get("name")
    if name in ("lodo", "cross") and parts is None:
        raise UserError(f"protocol.name={name} needs a dataset of several parts (dataset.name=megc2019)")
    if name == "loso":
        folds = loso_splits(subjects)
    elif name == "kfold":
        folds = kfold_subject_splits(subjects, protocol.get("k"), seed)
    elif name == "split":
        folds = fixed_split(subjects, protocol.get("test_subjects") or [])
    elif name == "lodo":
        folds = leave_one_dataset_out(subjects, parts)
    elif name == "cross":
        folds = cross_dataset(subjects, parts, _names(protocol.get("train_parts")), _names(protocol.get("test_parts")))
    else:
        raise UserError(f"protocol.name must be one of {', '.join(PROTOCOLS)}, got {name!r}")
    folds = [with_validation(fold, subjects, val_fraction, seed) for fold in folds]
    assert_subject_independent(folds, subjects)
    return folds


def _names(value) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def assert_subject_independent(folds: Sequence[Fold], subjects: Sequence[str]) -> None:
    """Raise AssertionError if any fold trains or validates on a subject it tests on, or if a clip
    is tested twice. With several folds (loso, kfold) every clip must also be tested exactly once;
    a single fold (split) tests only its chosen subjects."""
    subjects = [str(subject) for subject in subjects]
    for fold in folds:
        tested = {subjects[i] for i in fold.test}
        leaked = tested & {subjects[i] for i in fold.train + fold.val}
        assert not leaked, f"fold {fold.name}: test subject(s) {sorted(leaked)} also in train/val"
    times_tested = Counter(i for fold in folds for i in fold.test)
    repeated = [i for i, count in times_tested.items() if count > 1]
    assert not repeated, f"clip {repeated[0]} is tested in more than one fold"
    if len(folds) > 1:
        untested = set(range(len(subjects))) - set(times_tested)
        assert not untested, f"{len(untested)} clip(s) are never tested, e.g. clip {min(untested)}"
