"""What the demo's emotions look like: facial landmarks, FACS action units as displacement bumps,
and the action units each emotion is drawn from.

Classes are told apart by where and which way the skin moves, as in real micro-expressions: the
composite's positive class alone pulls the lip corners up (AU12), surprise alone raises the outer
brows (AU1+2), and every negative emotion moves the brows down or together, the nose, the lids,
the lips or the chin.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Where facial parts sit in a Haar-aligned crop, as (x, y) fractions of width and height.
# "_l"/"_r" are image left/right. Checked by overlaying them on crops of the shipped faces.
LANDMARKS = {
    "brow_inner_l": (0.40, 0.30), "brow_inner_r": (0.60, 0.30),
    "brow_outer_l": (0.24, 0.29), "brow_outer_r": (0.76, 0.29),
    "eye_l": (0.32, 0.37), "eye_r": (0.68, 0.37),
    "upper_lid_l": (0.32, 0.34), "upper_lid_r": (0.68, 0.34),
    "lower_lid_l": (0.32, 0.40), "lower_lid_r": (0.68, 0.40),
    "nose_root": (0.50, 0.42),
    "nose_wing_l": (0.42, 0.60), "nose_wing_r": (0.58, 0.60),
    "cheek_l": (0.28, 0.57), "cheek_r": (0.72, 0.57),
    "upper_lip": (0.50, 0.70),
    "mouth_corner_l": (0.37, 0.75), "mouth_corner_r": (0.63, 0.75),
    "lower_lip": (0.50, 0.80),
    "chin": (0.50, 0.90),
}

@dataclass(frozen=True)
class Bump:
    """A Gaussian patch of skin around a landmark moving along (dx, dy) (image y points down)."""

    landmark: str
    dx: float
    dy: float
    sigma: float  # fraction of the face width


# FACS action units as displacement bumps; "L14"/"R14" are one-sided like CASME II codes them.
ACTION_UNITS = {
    "1": (Bump("brow_inner_l", 0, -1, 0.07), Bump("brow_inner_r", 0, -1, 0.07)),
    "2": (Bump("brow_outer_l", 0, -1, 0.07), Bump("brow_outer_r", 0, -1, 0.07)),
    "4": (Bump("brow_inner_l", 0.5, 0.8, 0.07), Bump("brow_inner_r", -0.5, 0.8, 0.07)),
    "5": (Bump("upper_lid_l", 0, -0.6, 0.035), Bump("upper_lid_r", 0, -0.6, 0.035)),
    "6": (Bump("cheek_l", 0, -0.7, 0.09), Bump("cheek_r", 0, -0.7, 0.09),
          Bump("lower_lid_l", 0, -0.4, 0.04), Bump("lower_lid_r", 0, -0.4, 0.04)),
    "7": (Bump("lower_lid_l", 0, -1, 0.035), Bump("lower_lid_r", 0, -1, 0.035),
          Bump("upper_lid_l", 0, 0.4, 0.035), Bump("upper_lid_r", 0, 0.4, 0.035)),
    "9": (Bump("nose_wing_l", 0, -0.8, 0.05), Bump("nose_wing_r", 0, -0.8, 0.05),
          Bump("nose_root", 0, 0.4, 0.05), Bump("upper_lip", 0, -0.4, 0.06)),
    "10": (Bump("upper_lip", 0, -1, 0.07),),
    "12": (Bump("mouth_corner_l", -0.6, -0.8, 0.06), Bump("mouth_corner_r", 0.6, -0.8, 0.06)),
    "L14": (Bump("mouth_corner_l", 0.6, -0.2, 0.05),),
    "R14": (Bump("mouth_corner_r", -0.6, -0.2, 0.05),),
    "14": (Bump("mouth_corner_l", 0.6, -0.2, 0.05), Bump("mouth_corner_r", -0.6, -0.2, 0.05)),
    "15": (Bump("mouth_corner_l", -0.2, 1, 0.05), Bump("mouth_corner_r", 0.2, 1, 0.05)),
    "17": (Bump("chin", 0, -1, 0.08), Bump("lower_lip", 0, -0.6, 0.06)),
    "20": (Bump("mouth_corner_l", -1, 0.2, 0.05), Bump("mouth_corner_r", 1, 0.2, 0.05)),
    "24": (Bump("upper_lip", 0, 0.5, 0.05), Bump("lower_lip", 0, -0.5, 0.05)),
}

# Per emotion: the action units always present, then alternatives of which one is drawn. The
# first five are CASME II's classes; anger, contempt, fear and sadness are SAMM's (and SMIC's
# negative clips) and follow the FACS prototypes without AUs the bumps cannot show (AU26's jaw drop).
EMOTION_ACTIONS = {
    "happiness": (("12",), ((), ("6",))),
    "surprise": (("1", "2"), ((), ("5",))),
    "disgust": ((), (("9",), ("10",), ("4", "9"), ("4", "10"))),
    "repression": (("17",), ((), ("24",), ("14",))),
    "others": ((), (("4",), ("L14",), ("R14",), ("7",))),
    "anger": (("4",), (("7",), ("24",), ("7", "24"))),
    "contempt": ((), (("L14",), ("R14",))),
    "fear": (("4", "20"), ((), ("1",), ("5",))),
    "sadness": (("15",), ((), ("1", "4"), ("17",))),
}
# SAMM's leftover category is CASME II's under another name.
EMOTION_ACTIONS["other"] = EMOTION_ACTIONS["others"]

# The motions in words, for the datasets' READMEs; one entry per line of text.
MOTION_TEXT = {
    "happiness": ("lip corners pulled up and out (AU12), sometimes with a cheek raise (AU6)",),
    "surprise": ("inner and outer brows raised (AU1+2), sometimes upper lids raised (AU5)",),
    "disgust": ("nose wrinkle (AU9) or upper lip raise (AU10), sometimes brows lowered (AU4)",),
    "repression": ("chin raised and lower lip pushed up (AU17), sometimes lips pressed (AU24) or",
                   "lip corners tightened (AU14)"),
    "others": ("one of: brow lowerer (AU4), one-sided lip corner tightener (L14/R14),",
               "lid tightener (AU7)"),
    "anger": ("brows lowered (AU4) with lids tightened (AU7), lips pressed (AU24) or both",),
    "contempt": ("one-sided lip corner tightener (L14 or R14)",),
    "fear": ("brows drawn together (AU4) and lips stretched sideways (AU20), sometimes inner",
             "brows raised (AU1) or upper lids raised (AU5)"),
    "sadness": ("lip corners pulled down (AU15), sometimes inner brows raised and drawn",
                "together (AU1+4) or chin raised (AU17)"),
}


def choose_action_units(emotion: str, rng: np.random.Generator) -> tuple[str, ...]:
    """The action units of one clip of ``emotion``."""
    always, alternatives = EMOTION_ACTIONS[emotion]
    return always + alternatives[rng.integers(len(alternatives))]


