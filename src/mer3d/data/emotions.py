"""The field's 3-class emotion grouping (MEGC 2019): negative, positive, surprise.

Datasets label emotions in their own words (CASME II 'repression', SAMM 'Contempt', CAS(ME)^3
'sad'); the composite benchmark folds them into three classes and drops the rest ('others',
'other', and anything not listed). Labels are compared lower-cased.
"""
from __future__ import annotations

THREE_CLASSES = ("negative", "positive", "surprise")
NEGATIVE = frozenset({"repression", "anger", "contempt", "disgust", "fear", "sadness", "sad"})
POSITIVE = frozenset({"happiness", "happy"})
SURPRISE = frozenset({"surprise"})


def three_class(emotion: str) -> str | None:
    """The composite class of a dataset's emotion label, None where the benchmark drops it."""
    label = emotion.strip().lower()
    if label in NEGATIVE or label == "negative":
        return "negative"
    if label in POSITIVE or label == "positive":
        return "positive"
    if label in SURPRISE:
        return "surprise"
    return None
