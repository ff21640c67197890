"""The demo's random streams: one independent stream per (seed, purpose, subject, clip).

Keying every stream instead of drawing from one generator means the order of work never matters:
a subject's face or a clip's motion stays the same however many subjects or clips come before it.
"""
from __future__ import annotations

import numpy as np

# Purposes, the first key after the seed.
FACE_ORDER = 0          # the order in which the shipped LFW faces are tried
SUBJECT_TRAITS = 1      # per subject: brightness, contrast, skin tone and texture, expressiveness
CLIP = 2                # per subject and clip: timing, motion, nuisance, file naming
ASSIGNMENT = 3          # which emotion each clip shows (per part of the composite set)
FRAME_NUMBERING = 4     # per subject: how its dataset numbers frame files (SAMM: 4 or 5 digits)


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """The stream of ``(seed, *key)``; the same key always gives the same draws."""
    return np.random.default_rng([seed, *key])
