"""Temporal steadiness of the colour on clean and on aged film (issue 12); prints JSON.

    python benchmarks/flicker.py [DATA] [--quick] [--model M] [--extra "--temporal 0.8"]
        [--out benchmarks/flicker.json] [--strip out/flicker/strip.png]

1. Moving colour clips are generated from the photographs under ``DATA/photos`` (default
   ``../shared/data`` beside the repository): camera pans and zooms over a photo and a cut-out
   of one photo moving over another, three shots per clip with hard cuts between photos of
   landscapes, people, buildings and animals. Everything is seeded; the cut positions are known.
2. Each clip becomes two gray films, written losslessly (FFV1, ``gray``): the clean one (the
   truth's CIE L* as 8-bit sRGB gray, as ``benchmarks/quality.py`` makes its input) and an aged
   one (the same frames with gate weave, brightness flicker, exposure drift, wandering
   scratches, dust and grain: ``benchmarks/aging.py``).
3. Both are colorized by the real program, ``filmcolor colorize IN -o OUT --codec ffv1``, in a
   child process (with ``--model`` and any ``--extra`` options), and timed.
4. The decoded outputs and the truth are measured on a*b* only (the output's luma is the
   input's, so it would hide nothing but add noise): the warping error of Lai et al. 2018 with
   flow and occlusions taken from the clean original (for the aged film: the clean original
   moved by the same gate weave, see ``MEASURES["weave"]``), the frame-to-frame jump of the
   mean colour, and colourfulness, so that a colourless output cannot win.

The JSON goes to stdout and ``--out``; a strip of consecutive frames of the aged clip whose
colour jumps most (aged input | ours from it | ours from the clean gray | truth) to ``--strip``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/aging.py

from aging import Aging, age_clip, shift, weave_offsets  # noqa: E402

from filmcolor.metrics import colourfulness  # noqa: E402
from filmcolor.models.color import lightness_to_gray, rgb_to_lab  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
W, H = 320, 240
FPS = 24
MEASURES = {
    "warp_error": (
        "Lai et al. 2018 warping error on CIE a*b* only: mean over non-occluded pixels of "
        "||ab_t - warp(ab_t+1)||^2 (squared Euclidean norm of the 2-vector, so twice Lai's "
        "per-channel mean), averaged over consecutive pairs within a shot, Lab units squared. "
        "Flow: OpenCV DIS (preset medium) forward and backward on the clean gray original; "
        "occluded where |w_f + w_b'|^2 > 0.01 (|w_f|^2 + |w_b'|^2) + 0.5 (w_b' = backward flow "
        "at the forward-warped position) or where the flow leaves the frame; bilinear warping"
    ),
    "ab_jump": (
        "mean over consecutive pairs within a shot of |mean ab(t+1) - mean ab(t)| (Euclidean "
        "norm of the frame's mean a*b*), Lab units"
    ),
    "colourfulness": (
        "Hasler & Suesstrunk 2003 (filmcolor.metrics.colourfulness), mean over the frames"
    ),
    "fps": (
        "frames / wall time of the whole `filmcolor colorize` child process, start-up and "
        "model loading included; fps_after_startup: the same without options.startup_seconds "
        "(the wall time of a two-frame film)"
    ),
    "weave": (
        "the aged film's luma weaves by 1-2 px, and the output's colour should move with it; so "
        "the aged output's warp_error takes its flow and occlusions from the clean original "
        "moved by the same weave (clean picture, aged geometry). warp_error_unweaved_flow is "
        "the literal figure with the clean original's flow: there even the truth moved by the "
        "weave (truth_weaved) scores many times the truth, so no faithful output can meet a "
        "target set on it"
    ),
    "lab": "filmcolor.models.color.rgb_to_lab (D65) of the decoded 8-bit RGB",
    "ratios": (
        "warp_ratio, jump_ratio: ours / the truth's own figure; *_vs_clean: aged / clean; "
        "summary ratios are ratios of the means over the clips"
    ),
}


# The clips.


@dataclass(frozen=True)
class Camera:
    """Where the camera looks: centre as fractions of the photo, zoom (1 = the photo fills
    the frame along its tighter side)."""

    cx: float
    cy: float
    zoom: float


@dataclass(frozen=True)
class Sprite:
    """A round cut-out of another photo that moves across the frame."""

    photo: str
    centre: tuple[float, float]  # (u, v) of the cut-out in its photo, fractions
    radius: float  # of the cut-out, as a fraction of the photo's short side
    size: float  # diameter on screen, as a fraction of the frame height
    start: tuple[float, float]  # (x, y) on screen at the first frame, fractions of the frame
    end: tuple[float, float]  # ... and at the last


@dataclass(frozen=True)
class Shot:
    """One shot: a photo, the camera's start and end, and perhaps a moving cut-out."""

    photo: str
    start: Camera
    end: Camera
    sprite: Sprite | None = None


@dataclass(frozen=True)
class Clip:
    name: str
    shots: tuple[Shot, ...]


CLIPS = (
    Clip(
        "landscapes",
        (
            Shot("lomiri_aitzgorri.jpg", Camera(0.3, 0.5, 1.4), Camera(0.7, 0.45, 1.4)),
            Shot("lomiri_picosdeeuropa.jpg", Camera(0.5, 0.5, 1.0), Camera(0.55, 0.45, 1.6)),
            Shot("lomiri_life.jpg", Camera(0.45, 0.35, 1.5), Camera(0.55, 0.65, 1.5)),
        ),
    ),
    Clip(
        "moving_objects",
        (
            Shot(
                "plasma_kite.jpg",
                Camera(0.4, 0.5, 1.2),
                Camera(0.5, 0.5, 1.2),
                Sprite("opencv_fruits.jpg", (0.55, 0.35), 0.2, 0.45, (-0.1, 0.6), (1.1, 0.4)),
            ),
            Shot(
                "plasma_path.jpg",
                Camera(0.5, 0.5, 1.1),
                Camera(0.5, 0.5, 1.25),
                Sprite(
                    "gcompris_erase-red-panda.jpg", (0.6, 0.3), 0.3, 0.5, (1.0, 0.7), (0.2, 0.4)
                ),
            ),
            Shot(
                "gcompris_monuments-red-pyramid.jpg",
                Camera(0.6, 0.5, 1.3),
                Camera(0.4, 0.5, 1.3),
                Sprite("skimage_chelsea.jpg", (0.45, 0.45), 0.35, 0.55, (0.1, 0.55), (0.85, 0.6)),
            ),
        ),
    ),
    Clip(
        "people",
        (
            Shot("matplotlib_grace-hopper.jpg", Camera(0.5, 0.5, 1.0), Camera(0.5, 0.35, 1.6)),
            Shot("skimage_astronaut.jpg", Camera(0.35, 0.45, 1.5), Camera(0.6, 0.4, 1.5)),
            Shot("opencv_messi5.jpg", Camera(0.35, 0.5, 1.15), Camera(0.6, 0.5, 1.15)),
        ),
    ),
    Clip(
        "buildings",
        (
            Shot("sklearn_china.jpg", Camera(0.35, 0.5, 1.3), Camera(0.65, 0.45, 1.3)),
            Shot("gcompris_monuments-hawa-mahal.jpg", Camera(0.5, 0.5, 1.7), Camera(0.5, 0.5, 1.1)),
            Shot("opencv_building.jpg", Camera(0.5, 0.7, 1.4), Camera(0.5, 0.3, 1.4)),
        ),
    ),
    Clip(
        "animals",
        (
            Shot("plasma_eveningglow.jpg", Camera(0.3, 0.6, 1.3), Camera(0.7, 0.6, 1.3)),
            Shot("gcompris_erase-toucan.jpg", Camera(0.4, 0.5, 1.1), Camera(0.35, 0.45, 1.7)),
            Shot(
                "gcompris_farm-dog.jpg",
                Camera(0.5, 0.5, 1.15),
                Camera(0.45, 0.5, 1.15),
                Sprite("opencv_butterfly.jpg", (0.5, 0.5), 0.4, 0.4, (0.9, 0.2), (0.15, 0.5)),
            ),
        ),
    ),
)
QUICK_CLIPS = ("landscapes", "moving_objects")


def read_photo(path: Path) -> np.ndarray:
    """A photo as (H, W, 3) float32 RGB in [0, 1]."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"error: cannot read the photo {path}")
    return img[..., ::-1].astype(np.float32) / 255


def render_shot(shot: Shot, photos: Path, n: int) -> np.ndarray:
    """The shot's ``n`` frames, (n, H, W, 3) uint8 RGB; drawn at twice the size, then halved."""
    w2, h2 = 2 * W, 2 * H
    photo = read_photo(photos / shot.photo)
    ph, pw = photo.shape[:2]
    fit = max(w2 / pw, h2 / ph)  # photo px -> canvas px at zoom 1
    zmax = max(shot.start.zoom, shot.end.zoom)
    pre = min(1.0, fit * zmax)  # shrink the photo once, with area averaging
    photo = cv2.resize(photo, None, fx=pre, fy=pre, interpolation=cv2.INTER_AREA)
    ph, pw = photo.shape[:2]
    sprite = _sprite_patch(shot.sprite, photos, h2) if shot.sprite else None
    frames = np.empty((n, H, W, 3), np.uint8)
    for i in range(n):
        u = i / max(n - 1, 1)
        zoom = shot.start.zoom * (shot.end.zoom / shot.start.zoom) ** u
        k = fit * zoom / pre  # shrunk-photo px -> canvas px
        cx = _lerp(shot.start.cx, shot.end.cx, u) * pw
        cy = _lerp(shot.start.cy, shot.end.cy, u) * ph
        cx = np.clip(cx, w2 / 2 / k, pw - w2 / 2 / k)  # keep the window inside the photo
        cy = np.clip(cy, h2 / 2 / k, ph - h2 / 2 / k)
        m = np.float32([[k, 0, w2 / 2 - k * cx], [0, k, h2 / 2 - k * cy]])
        canvas = cv2.warpAffine(
            photo, m, (w2, h2), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
        if sprite is not None:
            patch, alpha = sprite
            x = _lerp(shot.sprite.start[0], shot.sprite.end[0], u) * w2
            y = _lerp(shot.sprite.start[1], shot.sprite.end[1], u) * h2
            y += 0.04 * h2 * np.sin(2 * np.pi * u)  # a little bob, so the path is not straight
            d = patch.shape[0]
            t = np.float32([[1, 0, x - d / 2], [0, 1, y - d / 2]])
            moved = cv2.warpAffine(patch, t, (w2, h2), flags=cv2.INTER_LINEAR)
            a = cv2.warpAffine(alpha, t, (w2, h2), flags=cv2.INTER_LINEAR)[..., None]
            canvas = canvas * (1 - a) + moved * a
        small = cv2.resize(canvas, (W, H), interpolation=cv2.INTER_AREA)
        frames[i] = np.clip(np.rint(small * 255), 0, 255).astype(np.uint8)
    return frames


def _sprite_patch(sprite: Sprite, photos: Path, h2: int) -> tuple[np.ndarray, np.ndarray]:
    """The cut-out (d, d, 3) and its feathered round alpha (d, d), at canvas scale."""
    photo = read_photo(photos / sprite.photo)
    ph, pw = photo.shape[:2]
    r = int(sprite.radius * min(ph, pw))
    cx = int(np.clip(sprite.centre[0] * pw, r, pw - r))
    cy = int(np.clip(sprite.centre[1] * ph, r, ph - r))
    d = int(sprite.size * h2)
    patch = cv2.resize(
        photo[cy - r : cy + r, cx - r : cx + r], (d, d), interpolation=cv2.INTER_AREA
    )
    alpha = np.zeros((d, d), np.float32)
    cv2.circle(alpha, (d // 2, d // 2), d // 2 - 4, 1.0, -1, cv2.LINE_AA)
    return patch, cv2.GaussianBlur(alpha, (0, 0), 1.5)


def _lerp(a: float, b: float, u: float) -> float:
    return a + (b - a) * u


def render_clip(clip: Clip, photos: Path, shots: int, per_shot: int) -> tuple[np.ndarray, list]:
    """The first ``shots`` shots of ``clip``, ``per_shot`` frames each.

    Returns:
        (N, H, W, 3) uint8 RGB frames and the cut positions (first frame of each later shot).
    """
    parts = [render_shot(s, photos, per_shot) for s in clip.shots[:shots]]
    cuts = [per_shot * k for k in range(1, len(parts))]
    return np.concatenate(parts), cuts


def gray_of(rgb: np.ndarray) -> np.ndarray:
    """The frames' CIE L* as 8-bit sRGB gray, (N, H, W) uint8: the clean film."""
    lightness = lab_of(rgb)[..., 0]
    return (lightness_to_gray(torch.from_numpy(lightness)) * 255).round().byte().numpy()


def lab_of(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab of 8-bit RGB frames, (N, H, W, 3) uint8 -> (N, H, W, 3) float32."""
    out = np.empty(rgb.shape, np.float32)
    for i in range(0, len(rgb), 16):
        x = torch.from_numpy(rgb[i : i + 16]).permute(0, 3, 1, 2).float() / 255
        out[i : i + 16] = rgb_to_lab(x).permute(0, 2, 3, 1).numpy()
    return out


# Film files and the program under test.


def write_gray(path: Path, frames: np.ndarray, fps: int = FPS) -> None:
    """Write (N, H, W) uint8 frames losslessly: FFV1, pixel format ``gray``, Matroska."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "gray"
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(f, format="gray")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def read_rgb(path: Path) -> np.ndarray:
    """Every frame of a film as (N, H, W, 3) uint8 RGB (PyAV, honouring the range and matrix
    the frames are tagged with)."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def filmcolor_command() -> str:
    """The ``filmcolor`` script of this interpreter's environment (else the one on PATH)."""
    beside = Path(sys.executable).parent / "filmcolor"
    found = str(beside) if beside.exists() else shutil.which("filmcolor")
    if not found:
        raise SystemExit("error: no `filmcolor` command; install the package (pip install -e .)")
    return found


def colorize(src: Path, dst: Path, model: str | None, extra: list[str]) -> tuple[float, int | None]:
    """Run ``filmcolor colorize`` on ``src``.

    Returns:
        Its wall time in seconds, and the number of shots it found (from its last message,
        ``wrote ... (N frames, K shots, ...)``; None when it says no such thing).
    """
    cmd = [filmcolor_command(), "colorize", str(src), "-o", str(dst), "--codec", "ffv1"]
    cmd += ["--overwrite", *(["--model", model] if model else []), *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"error: {shlex.join(cmd)} failed:\n" + "\n".join(tail))
    said = re.findall(r"(\d+) shots?\b", done.stdout + done.stderr)
    return seconds, int(said[-1]) if said else None


def startup_seconds(work: Path, model: str | None, extra: list[str]) -> float:
    """Wall time of ``filmcolor colorize`` on a two-frame film: start-up and model loading."""
    src, dst = work / "startup.mkv", work / "startup_color.mkv"
    write_gray(src, np.full((2, H, W), 128, np.uint8))
    return min(colorize(src, dst, model, extra)[0] for _ in range(2))


def program_version() -> str:
    """What ``filmcolor --version`` says (the program measured)."""
    done = subprocess.run([filmcolor_command(), "--version"], capture_output=True, text=True)
    return done.stdout.strip()


# The measures.


def dis_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense optical flow from gray frame ``a`` to ``b`` (OpenCV DIS, medium), (H, W, 2)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(a, b, None)


def warp(img: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``img`` at ``p + flow(p)`` for every pixel p, bilinearly.

    Args:
        img: (H, W) or (H, W, C) float32, the later frame.
        flow: (H, W, 2) float32, from the earlier frame to ``img``.

    Returns:
        The warped image, aligned with the earlier frame, and a (H, W) bool mask of the pixels
        whose sample lies inside ``img``.
    """
    h, w = flow.shape[:2]
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = xx + flow[..., 0], yy + flow[..., 1]
    warped = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    return warped, inside


def visible_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Pixels of the earlier frame that are seen in the later one, (H, W) bool.

    The forward-backward check of Lai et al. 2018 (after Ruder et al. 2016): occluded where
    |w_f + w_b'|^2 > 0.01 (|w_f|^2 + |w_b'|^2) + 0.5, with w_b' the backward flow at the
    forward-warped position; pixels whose flow leaves the frame count as occluded too.

    Args:
        forward: (H, W, 2) flow from the earlier frame to the later one.
        backward: (H, W, 2) flow from the later frame to the earlier one.
    """
    back, inside = warp(backward, forward)
    mismatch = ((forward + back) ** 2).sum(-1)
    scale = (forward**2).sum(-1) + (back**2).sum(-1)
    return inside & (mismatch <= 0.01 * scale + 0.5)


def shot_pairs(n: int, cuts: list[int]) -> list[int]:
    """The frames t with t and t + 1 in the same shot."""
    return [t for t in range(n - 1) if t + 1 not in cuts]


@dataclass
class Motion:
    """Flow and visibility from each frame to the next, within shots, from the clean film."""

    pairs: list[int]
    flows: list[np.ndarray]  # (H, W, 2) float32, frame t -> t + 1
    masks: list[np.ndarray]  # (H, W) bool, visible in t + 1

    @classmethod
    def of(cls, gray: np.ndarray, cuts: list[int]) -> Motion:
        """Motion of a (N, H, W) uint8 film with the given cuts."""
        pairs = shot_pairs(len(gray), cuts)
        flows, masks = [], []
        for t in pairs:
            forward = dis_flow(gray[t], gray[t + 1])
            backward = dis_flow(gray[t + 1], gray[t])
            flows.append(forward)
            masks.append(visible_mask(forward, backward))
        return cls(pairs, flows, masks)

    def visible_share(self) -> float:
        """Share of the pixels that count in the warping error."""
        return float(np.mean([m.mean() for m in self.masks])) if self.masks else 0.0


def pair_warp_error(
    ab: np.ndarray, ab_next: np.ndarray, flow: np.ndarray, mask: np.ndarray
) -> float | None:
    """Mean of ||ab - warp(ab_next)||^2 over the visible pixels; None when none is visible.

    Args:
        ab: (H, W, 2) a*b* of frame t.
        ab_next: (H, W, 2) a*b* of frame t + 1.
        flow: (H, W, 2) flow from t to t + 1.
        mask: (H, W) bool, pixels of t visible in t + 1.
    """
    if not mask.any():
        return None
    warped, _ = warp(ab_next, flow)
    return float(((ab - warped) ** 2).sum(-1)[mask].mean())


def warp_error(ab: np.ndarray, motion: Motion) -> float:
    """Warping error of an (N, H, W, 2) a*b* film: the mean of :func:`pair_warp_error` over
    the pairs within shots, Lab units squared."""
    errors = [
        pair_warp_error(ab[t], ab[t + 1], flow, mask)
        for t, flow, mask in zip(motion.pairs, motion.flows, motion.masks, strict=True)
    ]
    errors = [e for e in errors if e is not None]
    return float(np.mean(errors)) if errors else 0.0


def ab_jump(ab: np.ndarray, pairs: list[int]) -> float:
    """Mean over ``pairs`` of |mean ab(t + 1) - mean ab(t)|, Lab units; (N, H, W, 2) input."""
    means = ab.reshape(len(ab), -1, 2).mean(1)  # (N, 2)
    if not pairs:
        return 0.0
    steps = np.linalg.norm(means[[t + 1 for t in pairs]] - means[pairs], axis=1)
    return float(steps.mean())


def mean_colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk colourfulness of (N, H, W, 3) uint8 frames, mean over the frames."""
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255
    return float(colourfulness(x).mean())


def film_measures(rgb: np.ndarray, motion: Motion) -> dict[str, float]:
    """Warping error, ab jump and colourfulness of one film (N, H, W, 3) uint8."""
    ab = lab_of(rgb)[..., 1:]
    return {
        "warp_error": round(warp_error(ab, motion), 4),
        "ab_jump": round(ab_jump(ab, motion.pairs), 4),
        "colourfulness": round(mean_colourfulness(rgb), 3),
    }


def jumps_per_pair(rgb: np.ndarray, pairs: list[int]) -> dict[int, float]:
    """|mean ab(t + 1) - mean ab(t)| for each pair t."""
    means = lab_of(rgb)[..., 1:].reshape(len(rgb), -1, 2).mean(1)
    return {t: float(np.linalg.norm(means[t + 1] - means[t])) for t in pairs}


# The strip.


@dataclass
class StripCandidate:
    """The consecutive frames of an aged clip whose colour jumps most, and their rows."""

    score: float
    title: str
    rows: list[tuple[str, np.ndarray]]  # label, (K, H, W, 3) uint8


def strip_candidate(
    name: str, frames: int, pairs: list[int], jumps: dict[int, float], rows: dict[str, np.ndarray]
) -> StripCandidate | None:
    """The window of ``frames`` consecutive frames within a shot with the largest summed jump."""
    best = None
    for start in range(len(next(iter(rows.values()))) - frames + 1):
        window = range(start, start + frames - 1)
        if all(t in jumps for t in window):
            score = sum(jumps[t] for t in window)
            if best is None or score > best[0]:
                best = (score, start)
    if best is None:
        return None
    score, start = best
    title = f"{name}, frames {start}-{start + frames - 1}: summed ab jump {score:.1f}"
    picked = [(label, f[start : start + frames]) for label, f in rows.items()]
    return StripCandidate(score, title, picked)


def strip_image(c: StripCandidate) -> np.ndarray:
    """Rows of consecutive frames, each row labelled; RGB uint8."""
    gap, head = 4, 20
    blocks = [_label(c.title, c.rows[0][1].shape[0] * (W + gap) - gap, head)]
    for label, frames in c.rows:
        cells = []
        for f in frames:
            cells += [f, np.full((H, gap, 3), 255, np.uint8)]
        row = np.concatenate(cells[:-1], axis=1)
        blocks += [_label(label, row.shape[1], head), row]
    return np.concatenate(blocks, axis=0)


def _label(text: str, width: int, height: int) -> np.ndarray:
    img = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(
        img, text, (3, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA
    )
    return img


# The run.


def machine() -> dict:
    """This machine, for the record."""
    cpu = platform.processor() or platform.machine()
    try:
        text = Path("/proc/cpuinfo").read_text()
        cpu = next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if "model name" in ln)
    except (OSError, StopIteration):
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "pyav": av.__version__,
        "commit": commit,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def model_facts(model: str | None) -> dict:
    """Path and SHA-256 of the checkpoint the program uses."""
    from importlib import resources

    path = Path(model) if model else Path(str(resources.files("filmcolor"))) / "weights"
    if not model:
        path = path / "default.safetensors"
    if not path.exists():
        return {"path": str(path), "sha256": None}
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def measure_clip(
    clip: Clip, args: argparse.Namespace, seed: int, extra: list[str], startup: float
) -> tuple[dict, StripCandidate | None]:
    """Generate, age, colorize and measure one clip (``startup``: the program's start-up, s)."""
    shots = 2 if args.quick else len(clip.shots)
    per_shot = args.shot_frames or (20 if args.quick else 28)
    truth, cuts = render_clip(clip, Path(args.data) / "photos", shots, per_shot)
    clean = gray_of(truth)
    aging = parse_aging(args.aging)
    aged = age_clip(clean, cuts, seed, aging)
    weave = weave_offsets(len(truth), seed, aging.weave_px)
    truth_weaved = np.stack([shift(f, d) for f, d in zip(truth, weave, strict=True)])
    work = Path(args.work)
    films = {"clean": clean, "aged": aged}
    row: dict = {
        "clip": clip.name,
        "photos": [s.photo for s in clip.shots[:shots]]
        + [s.sprite.photo for s in clip.shots[:shots] if s.sprite],
        "frames": len(truth),
        "shots": len(cuts) + 1,
        "cuts": cuts,
        "seed": seed,
    }
    outputs = {}
    for kind, gray in films.items():
        src, dst = work / f"{clip.name}_{kind}.mkv", work / f"{clip.name}_{kind}_color.mkv"
        write_gray(src, gray)
        seconds, shots_found = colorize(src, dst, args.model, extra)
        outputs[kind] = read_rgb(dst)
        if outputs[kind].shape != truth.shape:
            raise SystemExit(f"error: {dst} has {outputs[kind].shape}, expected {truth.shape}")
        row[kind] = {
            "shots_found": shots_found,
            "seconds": round(seconds, 2),
            "fps": round(len(truth) / seconds, 1),
            "fps_after_startup": round(len(truth) / max(seconds - startup, 1e-3), 1),
        }
    # Flow from the clean original; for the aged film, from the clean original moved by the
    # same gate weave, since the output's luma (the aged film's) weaves and its colour should
    # follow it. The literal figure (unweaved flow) is kept beside it.
    motion = Motion.of(clean, cuts)
    clean_weaved = np.stack([shift(f, d) for f, d in zip(clean, weave, strict=True)])
    motion_aged = Motion.of(clean_weaved, cuts)
    row["visible_share"] = round(motion.visible_share(), 4)
    row["truth"] = film_measures(truth, motion)
    row["truth_weaved"] = film_measures(truth_weaved, motion_aged)
    row["clean"] |= film_measures(outputs["clean"], motion)
    row["aged"] |= film_measures(outputs["aged"], motion_aged)
    for kind, film in (("truth_weaved", truth_weaved), ("aged", outputs["aged"])):
        ab = lab_of(film)[..., 1:]
        row[kind]["warp_error_unweaved_flow"] = round(warp_error(ab, motion), 4)
    for kind in films:
        row[kind] |= _ratios(row[kind], row["truth"])
    row["aged"]["warp_vs_clean"] = _ratio(row["aged"]["warp_error"], row["clean"]["warp_error"])
    row["aged"]["jump_vs_clean"] = _ratio(row["aged"]["ab_jump"], row["clean"]["ab_jump"])
    candidate = strip_candidate(
        clip.name,
        args.strip_frames,
        motion.pairs,
        jumps_per_pair(outputs["aged"], motion.pairs),
        {
            "aged gray input": np.repeat(aged[..., None], 3, axis=3),
            "ours, from the aged film": outputs["aged"],
            "ours, from the clean gray film": outputs["clean"],
            "truth": truth,
        },
    )
    return row, candidate


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b > 0 else float("inf")


def _ratios(ours: dict, truth: dict) -> dict:
    return {
        "warp_ratio": _ratio(ours["warp_error"], truth["warp_error"]),
        "jump_ratio": _ratio(ours["ab_jump"], truth["ab_jump"]),
        "colourfulness_ratio": _ratio(ours["colourfulness"], truth["colourfulness"]),
    }


def summarise(rows: list[dict], startup: float) -> tuple[dict, dict]:
    """Means over the clips, and the headline ratios (ratios of those means, plus ranges)."""
    keys = ("warp_error", "ab_jump", "colourfulness")
    mean = {
        kind: {k: round(float(np.mean([r[kind][k] for r in rows])), 4) for k in keys}
        for kind in ("truth", "truth_weaved", "clean", "aged")
    }
    frames = sum(r["frames"] for r in rows)
    for kind in ("clean", "aged"):
        seconds = sum(r[kind]["seconds"] for r in rows)
        mean[kind]["fps"] = round(frames / seconds, 1)
        mean[kind]["fps_after_startup"] = round(frames / (seconds - startup * len(rows)), 1)
    summary = {}
    for kind in ("clean", "aged"):
        summary[kind] = _ratios(mean[kind], mean["truth"])
        for k in ("warp_ratio", "jump_ratio"):
            values = [r[kind][k] for r in rows]
            summary[kind][f"{k}_range"] = [min(values), max(values)]
    summary["aged"]["warp_vs_clean"] = _ratio(
        mean["aged"]["warp_error"], mean["clean"]["warp_error"]
    )
    summary["aged"]["jump_vs_clean"] = _ratio(mean["aged"]["ab_jump"], mean["clean"]["ab_jump"])
    for kind in ("truth_weaved", "aged"):
        literal = np.mean([r[kind]["warp_error_unweaved_flow"] for r in rows])
        mean[kind]["warp_error_unweaved_flow"] = round(float(literal), 4)
    summary["aged"]["warp_ratio_unweaved_flow"] = _ratio(
        mean["aged"]["warp_error_unweaved_flow"], mean["truth"]["warp_error"]
    )
    summary["aged"]["colourfulness_vs_clean"] = _ratio(
        mean["aged"]["colourfulness"], mean["clean"]["colourfulness"]
    )
    summary["targets"] = {
        "aged_warp_ratio_at_most_1.5": summary["aged"]["warp_ratio"] <= 1.5,
        "aged_jump_ratio_at_most_1.5": summary["aged"]["jump_ratio"] <= 1.5,
    }
    return mean, summary


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark; write the JSON and the strip."""
    t0 = time.perf_counter()
    torch.set_num_threads(1)  # our own measuring; the child process chooses its own threads
    cv2.setNumThreads(1)
    photos = Path(args.data) / "photos"
    if not photos.is_dir():
        raise SystemExit(f"error: no photos folder: {photos}")
    extra = shlex.split(args.extra)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    clips = [c for c in CLIPS if not args.quick or c.name in QUICK_CLIPS]
    startup = startup_seconds(Path(args.work), args.model, extra)
    rows, best = [], None
    for k, clip in enumerate(clips):
        row, candidate = measure_clip(clip, args, args.seed + k, extra, startup)
        rows.append(row)
        if candidate and (best is None or candidate.score > best.score):
            best = candidate
        print(
            f"{clip.name}: warp truth {row['truth']['warp_error']:.2f} "
            f"clean {row['clean']['warp_error']:.2f} aged {row['aged']['warp_error']:.2f}; "
            f"jump truth {row['truth']['ab_jump']:.3f} clean {row['clean']['ab_jump']:.3f} "
            f"aged {row['aged']['ab_jump']:.3f}",
            file=sys.stderr,
        )
    mean, summary = summarise(rows, startup)
    report = {
        "benchmark": "flicker",
        "issue": 12,
        "options": {
            "data": _shown(args.data),
            "quick": args.quick,
            "program": program_version(),
            "pythonpath": os.environ.get("PYTHONPATH"),
            "model": model_facts(args.model),
            "startup_seconds": round(startup, 2),
            "extra": extra,
            "command": "filmcolor colorize IN -o OUT --codec ffv1 --overwrite "
            + shlex.join([*(["--model", args.model] if args.model else []), *extra]),
            "size": [W, H],
            "fps": FPS,
            "seed": args.seed,
            "aging": parse_aging(args.aging).as_dict(),
        },
        "measures": MEASURES,
        "mean": mean,
        "summary": summary,
        "clips": rows,
        "machine": machine(),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if best is not None:
        strip = Path(args.strip)
        strip.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(strip), strip_image(best)[..., ::-1])
        report["strip"] = {"path": _shown(strip), "frames": best.title}
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    return report


def _shown(path: str | Path) -> str:
    """A path as the report shows it: relative to the repository when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def parse_aging(text: str) -> Aging:
    """``--aging "flicker=0,grain=3"``: :class:`Aging` with some strengths changed."""
    fields = Aging.__dataclass_fields__
    changes = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        if key not in fields or not value:
            raise SystemExit(f"error: --aging wants NAME=VALUE with NAME in {', '.join(fields)}")
        changes[key] = type(getattr(Aging(), key))(float(value))
    return Aging(**changes)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "data",
        nargs="?",
        default=str(REPO.parent / "shared" / "data"),
        help="folder with photos/ (colour photographs) [default: ../shared/data]",
    )
    parser.add_argument("--quick", action="store_true", help="2 clips of 2 shots, 20 frames each")
    parser.add_argument("--model", help=".safetensors checkpoint [default: the shipped model]")
    parser.add_argument(
        "--extra", default="", help='more options for `filmcolor colorize`, e.g. "--temporal 0.8"'
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "flicker.json"))
    parser.add_argument("--strip", default=str(REPO / "out" / "flicker" / "strip.png"))
    parser.add_argument(
        "--work", default=str(REPO / "out" / "flicker"), help="folder for the films made"
    )
    parser.add_argument(
        "--aging",
        default="",
        help='change aging strengths, e.g. "flicker=0,grain=0" (see benchmarks/aging.py)',
    )
    parser.add_argument("--seed", type=int, default=12, help="seed of the first clip's aging")
    parser.add_argument(
        "--shot-frames", type=int, default=0, help="frames per shot (0: 28, quick 20)"
    )
    parser.add_argument(
        "--strip-frames", type=int, default=6, help="consecutive frames in the strip"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print its JSON on stdout and return it."""
    report = run(parse_args(argv))
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
