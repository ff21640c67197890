"""Synthetic micro-expression datasets in the real on-disk layouts.

The real datasets are licensed and never shipped, so ``mer3d demo`` trains on ``generate_demo``'s
set, which goes through the same loader, cache and training code as real CASME II data: cropped
faces in ``Cropped/subNN/<Filename>/reg_img<N>.jpg`` and a coding sheet with the real column
names. ``generate_composite_demo`` writes the MEGC 2019 composite the same way: CASME II, SAMM and
SMIC parts in their layouts and the official-format 3-class clip list.

Faces are real photographs that ship inside installed packages (``faces``). Each clip animates one
face with a class-specific, localized, subtle (1.5-4 px at 170x140) FACS-like displacement field
(``actions``) that rises from onset to apex and decays to offset, plus the nuisance a real
recording has: head drift, blinks, sensor noise, illumination flicker (``motion``) and JPEG
compression (``clips``). ``*_layout`` save clips as each dataset does; ``publish`` builds a set
atomically.
"""
from mer3d.data.demo.actions import EMOTION_ACTIONS
from mer3d.data.demo.casme2_layout import FPS, SHEET_NAME
from mer3d.data.demo.classes import EMOTION_SHARES, assign_emotions, class_counts
from mer3d.data.demo.composite import LIST_NAME, PARTS, generate_composite_demo
from mer3d.data.demo.faces import Subject, load_subjects
from mer3d.data.demo.generate import generate_demo
from mer3d.data.demo.motion import ClipPlan, action_unit_field, plan_clip, render_clip
from mer3d.data.demo.publish import DEMO_VERSION
from mer3d.data.demo.seeds import rng_for

__all__ = ["generate_demo", "generate_composite_demo", "DEMO_VERSION", "FPS", "SHEET_NAME", "LIST_NAME", "PARTS",
           "EMOTION_SHARES", "EMOTION_ACTIONS", "class_counts", "assign_emotions", "Subject", "load_subjects",
           "ClipPlan", "plan_clip", "render_clip", "action_unit_field", "rng_for"]
