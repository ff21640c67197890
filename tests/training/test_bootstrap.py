"""The paired cluster bootstrap of ``mer3d compare`` on hand-made predictions (no training)."""

import numpy as np
import pytest

from mer3d.training.compare import _subject_counts, paired_cluster_bootstrap_uf1, uf1_from_counts
from mer3d.training.metrics import classification_report

CLASSES = ["a", "b"]


def truth(subjects=10, clips=4):
    """Each subject has clips of both classes: half a, half b."""
    return {(f"s{s:02d}", f"c{k}"): ("a" if k < clips // 2 else "b") for s in range(subjects) for k in range(clips)}


def predict(truth, right):
    """All clips of subject s right if right(s), else all wrong (the other class)."""
    other = {"a": "b", "b": "a"}
    return {(s, c): (t, t if right(int(s[1:])) else other[t]) for (s, c), t in truth.items()}


def clip_bootstrap(reference, other, classes, samples, seed=0):
    """Reference: the former clip-level bootstrap (seeds, then individual clips), for comparison."""
    keys = sorted(reference[0])
    index = {c: k for k, c in enumerate(classes)}
    pairs = lambda runs: [([index[r[k][0]] for k in keys], [index[r[k][1]] for k in keys]) for r in runs]
    ref, oth = pairs(reference), pairs(other)
    rng = np.random.default_rng(seed)

    def uf1(run, sample):
        return classification_report([run[0][i] for i in sample], [run[1][i] for i in sample], classes)["uf1"]

    draws = []
    for _ in range(samples):
        seeds, sample = rng.integers(0, len(ref), len(ref)), rng.integers(0, len(keys), len(keys))
        draws.append(np.mean([uf1(oth[k], sample) - uf1(ref[k], sample) for k in seeds]))
    return float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def test_vectorised_uf1_matches_classification_report():
    """Random data over 6 classes, some absent from truth and predictions, some only predicted,
    weighted subject sums (a subject drawn 0, 1 or several times) against the pooled clips."""
    rng = np.random.default_rng(7)
    classes = list("abcdef")
    for trial in range(50):
        n_subjects = int(rng.integers(1, 8))
        in_truth = rng.choice(4, size=int(rng.integers(1, 5)), replace=False)       # e and f never true
        in_predicted = rng.choice(5, size=int(rng.integers(1, 6)), replace=False)   # f never anything
        run = {}
        for s in range(n_subjects):
            for k in range(int(rng.integers(1, 6))):
                run[(f"s{s}", f"c{k}")] = (classes[rng.choice(in_truth)], classes[rng.choice(in_predicted)])
        keys = sorted(run)
        subjects = sorted({s for s, _ in keys})
        counts = _subject_counts(run, keys, subjects, classes)
        weights = rng.integers(0, 3, len(subjects))
        weights[rng.integers(len(subjects))] += 1                                   # at least one clip
        pooled = [run[key] for key in keys for _ in range(weights[subjects.index(key[0])])]
        expected = classification_report([classes.index(t) for t, _ in pooled],
                                          [classes.index(p) for _, p in pooled], classes)["uf1"]
        pooled_counts = np.einsum("s,sfc->fc", weights.astype(float), counts)
        assert uf1_from_counts(pooled_counts) == pytest.approx(expected, abs=1e-12)
    # The documented conventions: a predicted class without clips is left out of the mean but its wrong
    # predictions lower the F1 of the true class; a class absent everywhere is left out.
    run = {("s1", "c0"): ("a", "a"), ("s1", "c1"): ("a", "b"), ("s2", "c0"): ("c", "c")}
    counts = _subject_counts(run, sorted(run), ["s1", "s2"], ["a", "b", "c", "d"]).sum(axis=0)
    assert uf1_from_counts(counts) == pytest.approx((2 / 3 + 1) / 2)


def test_the_interval_resamples_subjects_not_clips():
    """Within each subject all clips are right or all wrong, in both cells: the clips of a subject
    are perfectly correlated, so resampling clips one by one understates the interval."""
    data = truth(subjects=12, clips=8)
    reference = [predict(data, lambda s: s % 3 != 0)]          # wrong on subjects 0, 3, 6, 9
    other = [predict(data, lambda s: s % 4 != 1)]              # wrong on subjects 1, 5, 9
    diff, low, high = paired_cluster_bootstrap_uf1(reference, other, CLASSES, samples=2000)
    clip_low, clip_high = clip_bootstrap(reference, other, CLASSES, samples=2000)
    # Accuracy (and, with balanced classes and symmetric errors, UF1): 8/12 vs 9/12.
    assert diff == pytest.approx(9 / 12 - 8 / 12)
    assert low < diff < high and clip_low < diff < clip_high
    cluster_width, clip_width = high - low, clip_high - clip_low
    print(f"cluster width {cluster_width:.3f}, clip width {clip_width:.3f}")
    assert cluster_width > 2 * clip_width


def test_identical_cells_differ_by_exactly_zero():
    data = truth(subjects=9, clips=6)
    runs = [predict(data, lambda s: s % 2 == 0), predict(data, lambda s: s % 3 != 0)]
    assert paired_cluster_bootstrap_uf1(runs, [dict(r) for r in runs], CLASSES, samples=500) == (0.0, 0.0, 0.0)


def test_same_seed_same_numbers():
    data = truth(subjects=9, clips=6)
    reference = [predict(data, lambda s: s % 2 == 0), predict(data, lambda s: s % 3 != 0)]
    other = [predict(data, lambda s: s != 4), predict(data, lambda s: s % 4 != 0)]
    first = paired_cluster_bootstrap_uf1(reference, other, CLASSES, samples=500, seed=3)
    assert paired_cluster_bootstrap_uf1(reference, other, CLASSES, samples=500, seed=3) == first
    assert paired_cluster_bootstrap_uf1(reference, other, CLASSES, samples=500, seed=4)[0] == first[0]


def test_a_cell_better_on_every_subject_excludes_zero():
    data = truth(subjects=10, clips=4)
    perfect = predict(data, lambda s: True)
    one_miss = {(s, c): (t, "b" if c == "c0" else p) for (s, c), (t, p) in perfect.items()}   # first a of each subject
    diff, low, high = paired_cluster_bootstrap_uf1([one_miss, one_miss], [perfect, perfect], CLASSES, samples=1000)
    # one_miss: a has 2*10 clips, 10 right, b 20 + 10 predicted: F1(a) = 20/30, F1(b) = 40/50
    assert diff == pytest.approx(1 - (2 / 3 + 4 / 5) / 2)
    assert 0 < low <= diff <= high


def test_the_interval_covers_the_variance_between_seeds():
    # One seed as good as the reference, one much worse: resampling the subjects alone would call
    # the mean difference certain; resampling the seeds too shows it may be 0.
    data = truth(subjects=10, clips=4)
    perfect = predict(data, lambda s: True)
    wrong_half = {key: (t, "a") for key, (t, _) in perfect.items()}       # every b predicted a
    diff, low, high = paired_cluster_bootstrap_uf1([perfect, perfect], [perfect, wrong_half], CLASSES, samples=400)
    # UF1(wrong_half): F1(a) = 2*20/(2*20+20) = 2/3, F1(b) = 0 -> 1/3; perfect = 1 -> mean difference -1/3
    assert diff == pytest.approx(-1 / 3)
    assert low < -0.5 and high == pytest.approx(0.0)


def test_fewer_than_two_subjects_gives_no_interval():
    data = truth(subjects=1, clips=20)
    perfect = predict(data, lambda s: True)
    wrong_half = {key: (t, "a") for key, (t, _) in perfect.items()}
    assert paired_cluster_bootstrap_uf1([perfect], [perfect], CLASSES, samples=200) == (0.0, 0.0, 0.0)
    diff, low, high = paired_cluster_bootstrap_uf1([perfect, perfect], [perfect, wrong_half], CLASSES, samples=200)
    assert diff == pytest.approx(-1 / 3) and low == diff == high


def test_a_run_missing_a_clip_is_a_clear_error():
    from mer3d.errors import UserError

    data = truth(subjects=3, clips=2)
    perfect = predict(data, lambda s: True)
    partial = {key: value for key, value in perfect.items() if key != ("s01", "c1")}
    with pytest.raises(UserError, match="s01 clip c1"):
        paired_cluster_bootstrap_uf1([perfect], [partial], CLASSES, samples=10)


def test_the_table_footer_names_subjects_and_the_fallback():
    from mer3d.training.compare import Cell, Comparison, comparison_markdown

    comparison = Comparison([Cell("ref", "p"), Cell("x", "p")], [0, 1], "ref")
    stats = {f"{m}_{s}": 0.5 for m in ("accuracy", "uf1", "uar") for s in ("mean", "std")}
    rows = [{"cell": "ref", "runs": 2, "paper_accuracy": None, **stats},
            {"cell": "x", "runs": 2, "paper_accuracy": None, **stats, "uf1_diff": 0.1, "uf1_diff_low": -0.1,
             "uf1_diff_high": 0.3, "uf1_better_seeds": 1, "test_subjects": 26}]
    table = comparison_markdown(rows, comparison)
    assert "cluster bootstrap" in table and "the same test subjects for both cells" in table
    assert "clips of one subject are scored by one fold model" in table and "same clips" not in table
    assert "Fewer than 2 test subjects" not in table
    rows[1].update(uf1_diff_low=0.05)
    assert "| +0.100 [+0.050, +0.300] *, better in 1/2 seeds |" in comparison_markdown(rows, comparison)
    rows[1].update(test_subjects=1, uf1_diff_low=0.1, uf1_diff_high=0.1)      # no interval: no * either
    table = comparison_markdown(rows, comparison)
    assert "Fewer than 2 test subjects: no subjects to resample, so no interval" in table
    assert "| +0.100 [+0.100, +0.100], better in 1/2 seeds |" in table
