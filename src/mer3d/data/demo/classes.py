"""Which emotion each demo clip shows: class shares, spread over the subjects."""
from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np

MIN_CLASSES_PER_SUBJECT = 3

# Roughly CASME II's 5-class shares (others 99, disgust 63, happiness 32, repression 27, surprise 25).
EMOTION_SHARES = {
    "others": 0.35,
    "disgust": 0.25,
    "happiness": 0.15,
    "surprise": 0.13,
    "repression": 0.12,
}


def class_counts(total: int, shares: dict[str, float] = EMOTION_SHARES) -> dict[str, int]:
    """Clips per emotion for ``total`` clips, following ``shares`` (largest remainder)."""
    exact = {e: share * total for e, share in shares.items()}
    counts = {e: int(x) for e, x in exact.items()}
    by_remainder = sorted(exact, key=lambda e: exact[e] - counts[e], reverse=True)
    for emotion in by_remainder[: total - sum(counts.values())]:
        counts[emotion] += 1
    return counts


def assign_emotions(subjects: int, clips_per_subject: int, rng: np.random.Generator,
                    shares: dict[str, float] = EMOTION_SHARES) -> list[list[str]]:
    """The emotion of every clip of every subject.

    Overall counts follow ``shares``; every subject first receives distinct classes (three,
    when it has that many clips) so that each leave-one-subject-out fold tests several classes.
    """
    remaining = Counter(class_counts(subjects * clips_per_subject, shares))
    wanted = min(MIN_CLASSES_PER_SUBJECT, clips_per_subject)
    assigned = []
    for _ in range(subjects):
        distinct = most_plentiful(remaining, wanted, rng)
        remaining.subtract(distinct)
        assigned.append(distinct)
    rest = list(remaining.elements())
    rng.shuffle(rest)
    for emotions in assigned:
        emotions += [rest.pop() for _ in range(clips_per_subject - len(emotions))]
        rng.shuffle(emotions)
    return assigned


def most_plentiful(remaining: Counter, wanted: int, rng: np.random.Generator) -> list[str]:
    """The ``wanted`` classes with most clips left (ties broken at random).

    Taking from the largest piles first keeps enough distinct classes for the subjects to come.
    """
    tie_breaks = {emotion: rng.random() for emotion in sorted(remaining)}
    available = [emotion for emotion in remaining if remaining[emotion] > 0]
    return sorted(available, key=lambda e: (-remaining[e], tie_breaks[e]))[:wanted]


def assign_grouped_emotions(subjects: int, clips_per_subject: int, rng: np.random.Generator,
                            shares: dict[str, float], group: Callable[[str], str]) -> list[list[str]]:
    """Like ``assign_emotions``, but the distinct classes every subject receives are groups of
    emotions (the composite's negative, positive, surprise): a subject with anger, contempt and
    disgust clips would test a single composite class. Within a group, emotions follow their shares.
    """
    group_shares: Counter = Counter()
    for emotion, share in shares.items():
        group_shares[group(emotion)] += share
    assigned = assign_emotions(subjects, clips_per_subject, rng, dict(group_shares))
    pools = {}
    for name, group_share in group_shares.items():
        members = {e: share / group_share for e, share in shares.items() if group(e) == name}
        pools[name] = list(Counter(class_counts(sum(g.count(name) for g in assigned), members)).elements())
        rng.shuffle(pools[name])
    return [[pools[name].pop() for name in groups] for groups in assigned]
