"""What a run trains and tests on, prepared once per run and shared by every fold (the trainer
builds it; fold functions, such as the classical baseline's, read it)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.records import Dataset


@dataclass
class PreparedData:
    """A dataset's usable clips, prepared once for the representation (``prepare_inputs``: uint8
    frames or float16 flow, T x size x size x C), with their labels (emotion index, and gender index
    or None), the apex each test window is centred on and where that apex came from
    (``window_sources``: annotated / estimated / middle, or none where the test windows ignore it)."""

    dataset: Dataset
    arrays: list[np.ndarray]
    labels: list[int]
    apex: list[int | None]
    genders: list[int | None]
    window_sources: list[str]

    def training_targets(self, indices, multitask: bool) -> list:
        """Emotion indices, or (emotion, gender) pairs for a multitask model."""
        return [(self.labels[i], self.genders[i]) if multitask else self.labels[i] for i in indices]
