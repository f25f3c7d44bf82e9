"""Long films in segments of whole shots: the plan, the manifest, claims, resume, and ranks.

Pass 2 writes a film as segments (:func:`plan_segments`): runs of whole shots of a few
thousand frames, so every segment starts on a cut, with a keyframe, and with fresh per-shot
state (batches, temporal propagation). The parts live in a work folder beside the output,
``<output>.parts/`` (:class:`Parts`):

    manifest.json        the input (size, mtime, hash of its first and last MiB), every option
                         and the model hash that decide the pixels, the shots, the segments
    vectors.safetensors  the global vector of every shot (so a resumed run skips pass 1)
    00003.claim          segment 3 is being written (created atomically: O_CREAT | O_EXCL)
    00003.mp4            segment 3 is done (written beside, verified, then renamed)

A segment is done when its part exists: parts are published by rename only once their frame
count is verified, so a crash, a kill or Ctrl-C leaves finished parts and at worst a stale
claim. Running the same command again keeps the parts whose manifest still matches
(:meth:`Parts.resume`) and redoes the rest; the join (:func:`filmcolor.parts.join_parts`)
remuxes them with the input's other streams into the output and removes the folder.

Under ``torchrun`` (:class:`filmcolor.distributed.World`), rank 0 runs pass 1 and writes the
manifest, every rank claims segments not yet done, and rank 0 joins. A claim is an atomically
created file, so ranks on several machines that share the work folder's file system need no
other lock.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

import filmcolor
from filmcolor.distributed import World
from filmcolor.errors import UserError
from filmcolor.files import atomic_output
from filmcolor.shots import Shot

MANIFEST = "manifest.json"
VECTORS = "vectors.safetensors"
FORMAT = 1  # of the manifest; another value is not reused
MIB = 1 << 20

# Options that do not change a single output pixel: a resumed run may change them freely.
_NOT_PIXELS = {
    "input",  # identified by its size, mtime and content hash instead
    "output",  # names the work folder
    "overwrite",
    "device",  # recorded as the device type and precision the model actually runs at
    "threads",
    "max_damaged",
    "fresh",
    "segment_frames",  # a resumed run keeps the manifest's segments
    "force",  # lets a colour film in; its pixels come out the same
    "max_pixels",  # a limit on the input, not a setting
}
# Options that name a file: recorded by the file's content hash.
_FILES = {"model", "style", "shots"}
# Options recorded per shot (file name -> content hash): a change redoes only the segments
# that hold the shots it names (Parts.resume), not the whole film.
_PER_SHOT = {"keyframes"}

# Bits per pixel of the output, roughly, for the free-space check (ProRes 4444 and FFV1 on
# grainy film; x264/x265 at --crf 18).
_BITS_PER_PIXEL = {"libx264": 0.3, "libx265": 0.2, "ffv1": 12.0, "prores": 5.0}


class NotEnoughSpace(UserError):
    """The disk cannot hold the parts and the output."""


@dataclass(frozen=True)
class Segment:
    """Frames ``start`` (inclusive) to ``end`` (exclusive): whole shots from ``shot`` on."""

    index: int
    start: int
    end: int
    pts: int  # the first frame's timestamp in the input's time base, where decoding seeks to
    shot: int  # index of the first shot

    @property
    def frames(self) -> int:
        return self.end - self.start


def plan_segments(shots: list[Shot], time_base: Fraction, size: int) -> list[Segment]:
    """Consecutive runs of whole shots of about ``size`` frames each.

    A segment closes before the shot that would take it past ``size`` frames; a shot longer
    than ``size`` is a segment of its own (segments never split a shot).
    """
    segments: list[Segment] = []
    first = 0
    for k in range(1, len(shots) + 1):
        if k == len(shots) or shots[k].end - shots[first].start > size:
            a, b = shots[first], shots[k - 1]
            segments.append(Segment(len(segments), a.start, b.end, _pts(a, time_base), first))
            first = k
    return segments


def _pts(shot: Shot, time_base: Fraction) -> int:
    """A shot's first timestamp, back from the seconds pass 1 recorded (exact: float(pts * tb)
    is the nearest double to the true time)."""
    return 0 if shot.start_time is None else round(shot.start_time / time_base)


# What decides the pixels.


def file_hash(path: str | os.PathLike, whole: bool = True) -> str:
    """SHA-256 of a file, or (``whole=False``) of its size and its first and last MiB."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if whole:
            for block in iter(lambda: f.read(MIB), b""):
                h.update(block)
            return h.hexdigest()
        size = os.fstat(f.fileno()).st_size
        h.update(str(size).encode())
        h.update(f.read(MIB))
        if size > MIB:
            f.seek(max(MIB, size - MIB))
            h.update(f.read(MIB))
    return h.hexdigest()


def fingerprint(
    cfg, colorizer_device: str, dtype: torch.dtype, model: Path, keyframes: dict | None = None
) -> dict:
    """What a part's pixels depend on: the input, the model, every option that changes them.

    Args:
        cfg: the :class:`filmcolor.pipeline.ColorizeConfig` (every field except the few in
            ``_NOT_PIXELS`` is recorded, so a new option is covered without a change here).
        colorizer_device: the device type the network runs on ("cpu", "cuda").
        dtype: the precision it runs at.
        model: the checkpoint file (hashed whole).
        keyframes: :func:`filmcolor.keyframes.keyframe_hashes` of the run (None = none).
    """
    src = Path(cfg.input)
    stat = src.stat()
    options: dict = {}
    for f in fields(cfg):
        if f.name in _NOT_PIXELS or f.name == "model":
            continue
        value = getattr(cfg, f.name)
        if f.name in _FILES and value is not None and Path(value).is_file():
            value = file_hash(value)
        if f.name in _PER_SHOT:
            value = keyframes
        if isinstance(value, Path):
            value = str(value)
        options[f.name] = value
    options["model"] = file_hash(model)
    return {
        "input": {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "head_tail_sha256": file_hash(src, whole=False),
        },
        "options": options,
        "device": colorizer_device,
        "precision": str(dtype).removeprefix("torch."),
        "filmcolor": filmcolor.__version__,
    }


def changed_keyframes(old: dict, new: dict) -> list[str]:
    """Names of the keyframes added, removed or changed between two fingerprints."""
    a, b = old["options"].get("keyframes"), new["options"].get("keyframes")
    a, b = (x if isinstance(x, dict) else {} for x in (a, b))
    return sorted(name for name in set(a) | set(b) if a.get(name) != b.get(name))


def _shown(value: object) -> str:
    """An option's value as a user wrote it (None: it was not given)."""
    return "not given" if value is None else str(value)


def why_different(old: dict, new: dict) -> str | None:
    """A short reason why parts made under ``old`` cannot be reused under ``new``, or None."""
    if old.get("format") != FORMAT:
        return "the parts were written by another version of filmcolor"
    if old["input"] != new["input"]:
        return "the input file changed"
    if old["options"].get("model") != new["options"]["model"]:
        return "the model changed"
    for key in sorted((set(old["options"]) | set(new["options"])) - _PER_SHOT):
        a, b = old["options"].get(key), new["options"].get(key)
        if a != b:
            flag = "--" + key.replace("_", "-")
            if key in _FILES:
                return f"the {flag} file changed"
            return f"{flag} changed ({_shown(a)} -> {_shown(b)})"
    for key in ("device", "precision", "filmcolor"):
        if old.get(key) != new.get(key):
            return f"the {key} changed ({old.get(key)} -> {new.get(key)})"
    return None


# The work folder.


@dataclass
class Plan:
    """What pass 2 needs from pass 1, as the manifest keeps it."""

    frames: int
    shots: list[Shot]
    vectors: dict[int, torch.Tensor]  # shot index -> (1, D)
    segments: list[Segment]


def parts_folder(output: Path) -> Path:
    """``<output>.parts`` beside the output."""
    return output.with_name(output.name + ".parts")


class Parts:
    """The work folder of one output: its manifest, the shots' vectors, claims and parts.

    Args:
        output: the final file; parts are written in its container (same suffix), so the
            join is a remux into a file of the same kind.
        fingerprint: what the pixels depend on (:func:`fingerprint`).
    """

    def __init__(self, output: Path, fingerprint: dict):
        self.output = output
        self.folder = parts_folder(output)
        self.fingerprint = fingerprint
        self.plan: Plan | None = None

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST

    def part(self, segment: Segment) -> Path:
        return self.folder / f"{segment.index:05d}{self.output.suffix}"

    def claim_file(self, segment: Segment) -> Path:
        return self.folder / f"{segment.index:05d}.claim"

    def resume(self, fresh: bool, warn: Callable[[str], None]) -> Plan | None:
        """The plan of the parts already in the folder, if they can be reused; else None, with
        the folder emptied (and a warning that says why, unless ``fresh``).

        Stale claims (a process that died while writing its segment) are removed: the
        segment is redone.
        """
        if not self.manifest.exists():
            self.remove()
            return None
        if fresh:
            self.remove()
            return None
        try:
            old = json.loads(self.manifest.read_text())
            reason = why_different(old, self.fingerprint)
        except (OSError, ValueError, KeyError, TypeError) as e:
            reason = f"its manifest cannot be read ({e})"
        if reason is None:
            try:
                plan = self._load(old)
            except (OSError, ValueError, KeyError, TypeError) as e:
                reason = f"it cannot be read ({e})"
        if reason is not None:
            warn(f"not resuming from {self.folder}: {reason}; starting over")
            self.remove()
            return None
        for claim in self.folder.glob("*.claim"):
            claim.unlink(missing_ok=True)
        self.plan = plan
        self._redo_keyframed(old, warn)
        return plan

    def _redo_keyframed(self, old: dict, warn: Callable[[str], None]) -> None:
        """Remove the parts holding a shot whose keyframes changed since ``old`` was written,
        say which and why, and record the keyframes now in the manifest."""
        changed = changed_keyframes(old, self.fingerprint)
        if not changed:
            return
        from filmcolor.keyframes import shot_of_key

        plan = self.plan
        touched = {k for name in changed if (k := shot_of_key(name, plan.shots)) is not None}
        redo = [
            s
            for s in plan.segments
            if any(s.start <= plan.shots[k].start < s.end for k in touched if k < len(plan.shots))
        ]
        gone = [s for s in redo if self.part(s).exists()]
        for s in gone:
            self.part(s).unlink()
        old["options"]["keyframes"] = self.fingerprint["options"].get("keyframes")
        old["keyframes_changed"] = changed  # the manifest says why those parts were redone
        with atomic_output(self.manifest, ".tmp") as tmp:
            tmp.write_text(json.dumps(old, indent=1) + "\n")
        if gone:
            names = ", ".join(changed)
            numbers = ", ".join(str(s.index + 1) for s in gone)
            warn(f"keyframes changed ({names}): redoing segment(s) {numbers} of {self.output.name}")

    def start(self, plan: Plan) -> None:
        """Create the folder and write the manifest and vectors of a new run."""
        self.folder.mkdir(exist_ok=True)
        vectors = {str(k): v.clone() for k, v in plan.vectors.items()}  # no shared storage
        with atomic_output(self.folder / VECTORS, ".tmp") as tmp:
            save_file(vectors, str(tmp))
        manifest = {
            "format": FORMAT,
            **self.fingerprint,
            "output": str(self.output),
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "frames": plan.frames,
            "shots": [[s.start, s.end, s.start_time, s.end_time] for s in plan.shots],
            "segments": [asdict(s) for s in plan.segments],
            "done": "a segment is done when its part (NNNNN" + self.output.suffix + ") exists",
        }
        with atomic_output(self.manifest, ".tmp") as tmp:
            tmp.write_text(json.dumps(manifest, indent=1) + "\n")
        self.plan = plan

    def load(self) -> Plan:
        """The plan another process wrote (ranks other than 0 read it after the barrier)."""
        if self.plan is None:
            self.plan = self._load(json.loads(self.manifest.read_text()))
        return self.plan

    def _load(self, manifest: dict) -> Plan:
        shots = [Shot(*row) for row in manifest["shots"]]
        segments = [Segment(**s) for s in manifest["segments"]]
        vectors = {int(k): v for k, v in load_file(str(self.folder / VECTORS)).items()}
        return Plan(manifest["frames"], shots, vectors, segments)

    def done(self) -> list[Segment]:
        return [s for s in self.load().segments if self.part(s).exists()]

    def saved_frames(self) -> int:
        return sum(s.frames for s in self.done())

    def missing(self) -> list[Segment]:
        return [s for s in self.load().segments if not self.part(s).exists()]

    def claim(self, segment: Segment) -> bool:
        """Take ``segment`` for this process: True if its claim file did not exist yet."""
        try:
            fd = os.open(self.claim_file(segment), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(f"{socket.gethostname()} pid {os.getpid()} rank {World.from_env().rank}\n")
        return True

    def runs(self, world: World) -> Iterator[list[Segment]]:
        """The segments this process writes, as runs of consecutive ones.

        One process claims every segment not done, in runs as long as possible (decoded
        without seeking between them); under torchrun each rank claims one segment at a
        time, the next one not yet claimed, until none is left.
        """
        todo = self.missing()
        if world.size == 1:
            run: list[Segment] = []
            for s in todo:
                if not self.claim(s):
                    continue
                if run and run[-1].end != s.start:
                    yield run
                    run = []
                run.append(s)
            if run:
                yield run
            return
        for s in todo:
            if not self.part(s).exists() and self.claim(s):
                yield [s]

    def check_space(self, codec: str, width: int, height: int, input_size: int) -> None:
        """Stop before pass 2 if the disk cannot hold the parts still to write and the output
        (the join writes the output while the parts still exist).

        Raises:
            NotEnoughSpace: with the sizes, in GB.
        """
        plan = self.load()
        guess = plan.frames * width * height * _BITS_PER_PIXEL.get(codec, 1.0) / 8
        output = max(guess, input_size if codec in ("libx264", "libx265") else guess)
        on_disk = sum(self.part(s).stat().st_size for s in self.done())
        left = output * (plan.frames - self.saved_frames()) / max(plan.frames, 1)
        need = left + max(output, on_disk + left)
        free = shutil.disk_usage(self.folder).free
        if free < need:
            raise NotEnoughSpace(
                f"not enough free space in {self.folder.parent}: the parts and the output "
                f"need about {need / 1e9:.1f} GB, {free / 1e9:.1f} GB are free"
            )

    def remove(self) -> None:
        """Delete the folder and everything in it."""
        shutil.rmtree(self.folder, ignore_errors=True)


def saved(output: Path) -> tuple[int, int] | None:
    """(segments done, segments planned) in ``output``'s work folder, or None without one."""
    try:
        manifest = json.loads((parts_folder(output) / MANIFEST).read_text())
        segments = manifest["segments"]
    except (OSError, ValueError, KeyError):
        return None
    folder = parts_folder(output)
    done = sum((folder / f"{s['index']:05d}{output.suffix}").exists() for s in segments)
    return done, len(segments)
