"""What a dataset loader returns: clip records, the problems found, and the class set."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

GENDERS = ("female", "male")   # index = the gender target of multitask models (GEME)


@dataclass(frozen=True)
class ClipRecord:
    """One annotated micro-expression clip.

    ``frames`` are ordered by frame number (numerically); ``frame_numbers`` are the numbers in the
    file names. ``onset``/``apex``/``offset`` are frame numbers as the sheet gives them (``apex``
    may be None). ``video`` is set instead of ``frames`` for manifest rows pointing at a video.
    ``gender`` is one of ``GENDERS``, or None where the annotation gives none.
    """

    dataset: str
    subject: str
    name: str
    emotion: str
    frames: tuple[Path, ...] = ()
    frame_numbers: tuple[int, ...] = ()
    onset: int | None = None
    apex: int | None = None
    offset: int | None = None
    action_units: str = ""
    fps: float = 0.0
    video: Path | None = None
    gender: str | None = None
    source: str = ""          # annotation file the record came from
    row: int | None = None    # 1-based row in that file (header = row 1), for messages

    @property
    def key(self) -> str:
        # A composite's subjects already carry their dataset ('smic/s1').
        subject = self.subject if self.subject.startswith(f"{self.dataset}/") else f"{self.dataset}/{self.subject}"
        return f"{subject}/{self.name}"


@dataclass(frozen=True)
class Problem:
    """A disagreement between the annotation and the files, named by path and row."""

    path: str
    row: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}" + (f" row {self.row}" if self.row is not None else "")
        return f"{where}: {self.message}"


@dataclass
class Dataset:
    """Usable clips of the chosen classes, plus what was left out and why."""

    name: str
    root: Path
    classes: list[str]
    clips: list[ClipRecord]
    excluded: Counter = field(default_factory=Counter)    # emotion -> clips outside the class set
    problems: list[Problem] = field(default_factory=list)
    fps: float = 0.0

    @property
    def subjects(self) -> list[str]:
        return sorted({c.subject for c in self.clips})

    def parts(self) -> list[str] | None:
        """Each clip's dataset for a composite of several (``megc2019``), else None."""
        return [c.dataset for c in self.clips] if any(c.dataset != self.name for c in self.clips) else None

    def labels(self) -> list[int]:
        return [self.classes.index(c.emotion) for c in self.clips]

    def genders(self) -> list[int | None]:
        """Each clip's index in ``GENDERS``, None where unknown."""
        return [None if c.gender is None else GENDERS.index(c.gender) for c in self.clips]
