"""Sample recordings made from real face photographs that ship inside installed packages:
matplotlib's ``grace_hopper.jpg`` and scikit-image's ``data/astronaut.png`` (both public domain),
read from the package folders, never downloaded. Used by ``mer3d benchmark`` (end-to-end predict
throughput) and by the tests. ``TRUE_FACES`` holds where each face really is, drawn by hand on the
photographs (cheek to cheek, hairline or hat brim to chin).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import av
import cv2
import numpy as np

from .faces import FaceBox

TRUE_FACES = {
    "grace_hopper": FaceBox(165, 140, 200, 185),   # in the photograph, 512 wide and 600 high
    "astronaut": FaceBox(180, 72, 90, 116),        # in the photograph, 512 x 512
}


def photo_path(name: str) -> Path:
    """The photograph's file inside its package: ``grace_hopper`` or ``astronaut``."""
    if name == "grace_hopper":
        from matplotlib import cbook

        return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    if name == "astronaut":
        import skimage

        return Path(skimage.__file__).parent / "data" / "astronaut.png"
    raise ValueError(f"no face photograph named {name!r}; known: {', '.join(TRUE_FACES)}")


def face_photo(name: str) -> np.ndarray:
    """The photograph as a BGR uint8 array."""
    image = cv2.imread(str(photo_path(name)), cv2.IMREAD_COLOR)
    if image is None:
        raise RuntimeError(f"cannot read {photo_path(name)}")
    return image


def still_head_clip(photo: np.ndarray, n_frames: int, noise_sigma: float = 2.0, seed: int = 0) -> list[np.ndarray]:
    """The same image ``n_frames`` times, each with its own Gaussian sensor noise (gray levels)."""
    rng = np.random.default_rng(seed)
    return [add_noise(photo, noise_sigma, rng) for _ in range(n_frames)]


def add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``image`` plus Gaussian noise of ``sigma`` gray levels, rounded and clipped to uint8."""
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def place_on_canvas(photo: np.ndarray, canvas_hw: tuple[int, int] = (480, 640), offset: tuple[int, int] = (0, 0),
                    scale: float = 1.0) -> np.ndarray:
    """A raw-recording-like frame: the photograph scaled by ``scale`` with its top-left corner at
    ``offset`` (x, y, negative allowed) on a smooth gray-blue studio background of ``canvas_hw``
    (height, width), as CASME2_RAW_selected frames show a face inside a 640 x 480 scene."""
    height, width = canvas_hw
    ramp = np.linspace(0, 40, width, dtype=np.float32)[None, :, None]
    canvas = np.broadcast_to(np.float32([150, 120, 100]) + ramp, (height, width, 3)).astype(np.uint8)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=interpolation)
    x, y = offset
    left, top = max(x, 0), max(y, 0)
    visible = resized[top - y: height - y, left - x: width - x]
    canvas[top: top + visible.shape[0], left: left + visible.shape[1]] = visible
    return canvas


def centred_on_canvas(name: str, face_width: int, canvas_hw: tuple[int, int] = (480, 640)) -> np.ndarray:
    """The named photograph scaled so its face is ``face_width`` px wide, face centred on the canvas."""
    face = TRUE_FACES[name]
    scale = face_width / face.w
    centre_x, centre_y = face.x + face.w / 2, face.y + face.h / 2
    offset = (round(canvas_hw[1] / 2 - centre_x * scale), round(canvas_hw[0] / 2 - centre_y * scale))
    return place_on_canvas(face_photo(name), canvas_hw, offset, scale)


def write_video(path: Path, frames: Sequence[np.ndarray], fps: int = 30, codec: str = "libx264") -> Path:
    """Encode BGR frames (even width and height) as a video with PyAV: ``libx264`` (mp4) or ``mpeg4``.

    The bit rate is high so that one-pixel motion survives compression.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 20_000_000
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        container.mux(stream.encode())   # flush the encoder's delayed frames
    return path
