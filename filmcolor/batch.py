"""Many films in one run: several files, or every film in a folder, one after another.

Each film is colorized as ``filmcolor colorize`` does one (:func:`filmcolor.pipeline.
colorize_video`: resumable, in segments, sharded under torchrun); a film that fails is
reported and the others go on. Films whose output already exists are left alone unless
``--overwrite``, so running the same command again after an interruption finishes the archive:
done films are kept, the interrupted one resumes from its parts, the rest follow.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av.error

from filmcolor.colorizer import Colorizer
from filmcolor.config import ColorizeConfig
from filmcolor.errors import UserError
from filmcolor.pipeline import colorize_video, default_output
from filmcolor.plan import WarnFn
from filmcolor.progress import ProgressFn
from filmcolor.video.probe import is_video

# Files with these endings are listed even when PyAV cannot open them, so that a damaged
# film is reported as failed instead of silently left out.
VIDEO_SUFFIXES = {
    ".avi", ".flv", ".m2ts", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".mts",
    ".mxf", ".ogv", ".ts", ".vob", ".webm", ".wmv", ".y4m",
}  # fmt: skip


@dataclass(frozen=True)
class Job:
    """One film and where its colour version goes."""

    input: Path
    output: Path
    label: str  # how the summary names it: the path given, or found under a folder


@dataclass
class FileResult:
    """How one film went: ``status`` is "done", "failed" or "exists" (left alone)."""

    job: Job
    status: str
    frames: int = 0
    seconds: float = 0.0
    message: str = ""


def find_videos(folder: Path, skip: Path | None = None) -> list[Path]:
    """Every film under ``folder`` (recursively, sorted): what PyAV opens as a video, plus
    files with a video ending it cannot open. Hidden files, work folders (``*.parts``) and
    anything under ``skip`` (the output folder) are left out."""
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(p.startswith(".") or p.endswith(".parts") for p in rel.parts):
            continue
        if skip is not None and path.resolve().is_relative_to(skip.resolve()):
            continue
        if path.suffix.lower() in VIDEO_SUFFIXES or is_video(path):
            found.append(path)
    return found


def plan_jobs(inputs: list[Path], output: Path | None, codec: str) -> list[Job]:
    """Input files and folders -> one job per film.

    Without ``output``, each film goes beside itself (``<stem>_color``); with it, ``output``
    is a folder: films named on the command line go straight into it, films found in a
    folder keep their path relative to that folder.

    Raises:
        UserError: a missing input, a folder without ``-o``, ``-o`` that is a file, or two
            films that would be written to the same output.
    """
    if output is not None and output.is_file():
        raise UserError(f"-o {output} is a file; with several films -o names a folder")
    jobs: list[Job] = []
    for item in inputs:
        if item.is_dir():
            if output is None:
                raise UserError(f"{item} is a folder; give an output folder with -o")
            for film in find_videos(item, skip=output):
                name = default_output(film, codec).name
                rel = film.relative_to(item)
                jobs.append(Job(film, output / rel.parent / name, str(rel)))
        elif not item.exists():
            raise UserError(f"input not found: {item}")
        else:
            out = default_output(item, codec)
            jobs.append(Job(item, out if output is None else output / out.name, str(item)))
    seen: dict[Path, Path] = {}
    for job in jobs:
        other = seen.setdefault(job.output.resolve(), job.input)
        if other != job.input:
            raise UserError(f"{other} and {job.input} would both be written to {job.output}")
    return jobs


def colorize_many(
    jobs: list[Job],
    cfg: ColorizeConfig,
    on_file: Callable[[int, int, Job], None] | None = None,
    on_progress: ProgressFn | None = None,
    on_warning: WarnFn | None = None,
) -> list[FileResult]:
    """Colorize every job in turn with the options of ``cfg`` (its input and output are
    replaced), loading the model once.

    Errors a user can cause (:class:`UserError`, OS and FFmpeg errors) fail that film only;
    Ctrl-C and bugs stop the run.

    Args:
        jobs: the films.
        cfg: the options of every film.
        on_file: called with (index from 0, count, job) before each film.
        on_progress, on_warning: as for :func:`filmcolor.pipeline.colorize_video`.
    """
    colorizer = Colorizer.from_config(cfg)
    results = []
    for i, job in enumerate(jobs):
        if on_file is not None:
            on_file(i, len(jobs), job)
        if job.output.exists() and not cfg.overwrite:
            results.append(FileResult(job, "exists", message="left alone (--overwrite redoes it)"))
            continue
        t0 = time.perf_counter()
        one = dataclasses.replace(cfg, input=job.input, output=job.output)
        try:
            job.output.parent.mkdir(parents=True, exist_ok=True)
            result = colorize_video(one, on_progress, on_warning, colorizer)
        except (UserError, OSError, av.error.FFmpegError) as e:
            message = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
            results.append(FileResult(job, "failed", 0, time.perf_counter() - t0, message))
            continue
        results.append(FileResult(job, "done", result.frames, result.seconds))
    return results
