"""The README.txt every demo set carries: that it is synthetic, where its faces come from and how
they move."""
from __future__ import annotations

from typing import Collection, Iterable

from mer3d.data.demo.actions import MOTION_TEXT
from mer3d.data.demo.clips import JPEG_QUALITY
from mer3d.data.demo.motion import BLINK_PROBABILITY, PEAK_PX, REFERENCE_WIDTH, RENDER_FPS

DESCRIPTION = """\
Nothing here was recorded. Each subject is one real photograph that ships inside an installed
Python package, face-cropped with OpenCV's Haar cascade and given its own brightness, contrast,
faint skin tone and fine skin texture:

{faces}

(Grace Hopper and the astronaut, a NASA portrait, are public domain; the small faces come from
the Labeled Faces in the Wild research database as scikit-image ships it.)

Every clip animates that still face at {fps} fps with a smooth, localized displacement field
(Gaussian patches of skin moving around facial landmarks) that rises from OnsetFrame to
ApexFrame and decays towards OffsetFrame. Peak movement at the apex is {peak_low}-{peak_high} px
at a {reference}-px-wide face. Motions per class (FACS action units):

{motions}

Recording nuisance on top: slow head drift (up to ~1.5 px and 0.5 degrees), a blink in about
{blink_percent}% of clips regardless of class, Gaussian sensor noise (sigma 2-3 gray levels),
illumination flicker, and JPEG compression (quality {quality}).
"""
EMOTION_COLUMN = 11     # width of the emotion names in the motions table


def readme(title: str, faces: Iterable[tuple[str, str]], emotions: Collection[str], layout: str) -> str:
    """The README: ``title``, the ``(subject, source photograph)`` list, the motions of ``emotions``
    (in MOTION_TEXT's order) and the ``layout`` paragraphs describing the files."""
    indent = "\n" + " " * (EMOTION_COLUMN + 3)
    motions = [f"  {emotion:<{EMOTION_COLUMN}} {indent.join(lines)}"
               for emotion, lines in MOTION_TEXT.items() if emotion in emotions]
    return "\n".join([title, "=" * len(title), "", DESCRIPTION.format(
        faces="\n".join(f"  {subject}: {source}" for subject, source in faces),
        fps=RENDER_FPS, peak_low=PEAK_PX[0], peak_high=PEAK_PX[1], reference=REFERENCE_WIDTH,
        motions="\n".join(motions), blink_percent=round(100 * BLINK_PROBABILITY), quality=JPEG_QUALITY),
        layout])
