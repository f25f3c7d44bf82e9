"""Everything the ``filmcolor`` command shows: lines, tables and progress bars. The one module
that imports Rich; the commands hand it the library's results and progress reports."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table

console = Console()
err_console = Console(stderr=True)


# Exit codes, as ffmpeg and rsync use them: 0 = everything asked for was done (or was already
# there), 1 = an error and nothing done, 2 = a usage error (Click), 3 = partly done (some films
# or images done, the others failed or skipped: the summary names them), 130 = Ctrl-C.
EXIT_PARTLY = 3


def exit_code(done: int, not_done: int) -> int:
    """0 when nothing asked for was left undone, else :data:`EXIT_PARTLY` or 1."""
    if not not_done:
        return 0
    return EXIT_PARTLY if done else 1


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear line on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def say(message: str) -> None:
    """One line of the result on stdout, as it is (no markup, no highlighting)."""
    console.print(message, highlight=False, soft_wrap=True, markup=False)


def tell(message: str) -> None:
    """One plain line on stderr (a note beside the result)."""
    err_console.print(message, highlight=False, soft_wrap=True, markup=False)


def warn(kind: str, message: str) -> None:
    """``skipped ...``, ``damaged ...``: a yellow word and the message, on stderr."""
    err_console.print(f"[yellow]{kind}[/] {message}", highlight=False, soft_wrap=True)


def plural(n: int, noun: str) -> str:
    """``1 shot``, ``2 shots``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A table on stdout."""
    t = Table(*header)
    for row in rows:
        t.add_row(*row)
    console.print(t)


def presets(rows: list[tuple[str, ...]]) -> None:
    """``filmcolor info``'s presets: a table in a wide terminal; piped, in a file or a narrow
    terminal, one full line per preset, nothing cut."""
    if not console.is_terminal or console.width < 100:
        for row in rows:
            say(
                f"preset {row[0]}: width {row[1]}, {row[2]} head, attention {row[3]}, "
                f"{row[4]} classes, {row[5]} parameters, {row[6]} GFLOPs per 640x480 frame"
            )
        return
    names = ("preset", "width", "head", "attention", "classes", "parameters")
    t = Table(
        *(Column(n, no_wrap=True) for n in names), Column("GFLOPs / 640x480 frame", no_wrap=True)
    )
    for row in rows:
        t.add_row(*row)
    console.print(t)


def progress_bar(on: Console) -> Progress:
    """description, bar, done/total, a free "status" text, time left; off when ``on`` is not
    a terminal (a log file gets the plain lines instead)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
        console=on,
        disable=not on.is_terminal,
    )


class VideoProgress:
    """A Rich progress bar fed by the library's progress callbacks."""

    def __init__(self):
        self.bar = progress_bar(err_console)
        self.tasks: dict[str, int] = {}
        self.log = PlainProgress(err_console)  # stderr is a log file: a line every few seconds

    def __enter__(self) -> VideoProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def _update(self, key: str, description: str, done: int, total: int | None) -> None:
        if key not in self.tasks:
            self.tasks[key] = self.bar.add_task(description, total=total, status="")
        task = self.tasks[key]
        speed = self.bar.tasks[task].speed
        rate = f"{speed:.1f} fps" if speed else ""
        self.bar.update(task, completed=done, total=total, description=description, status=rate)
        self.log.update(key, description, done, total)

    def __call__(self, p) -> None:
        """A :class:`filmcolor.progress.Progress` report."""
        if p.stage == "shots":
            self._update(
                "shots",
                "finding shots" + (f", {p.shots} found" if p.shots else ""),
                p.done,
                p.total,
            )
        elif p.stage == "resume":
            self.bar.console.print(
                f"resuming: {p.done} of {p.total} frames are saved (--fresh starts over)",
                highlight=False,
            )
        elif p.stage == "preview":
            self._update("preview", f"picking frames, shot {p.shot}/{p.shots}", p.done, p.total)
        else:
            self._update("colorize", f"colorizing shot {p.shot}/{p.shots}", p.done, p.total)

    def film(self, done: int, total: int, name: str) -> None:
        self._update("films", f"films: {name}" if name else "films", done, total)

    def image(self, done: int, total: int, path: Path) -> None:
        self._update("images", f"colorizing {path.name}", done, total)

    def warn(self, message: str) -> None:
        self.bar.console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


class PlainProgress:
    """Progress for a console that is not a terminal (nohup, a log file), as ffmpeg prints it:
    one plain line every ``every`` seconds with the count, the rate and the time left."""

    def __init__(self, on: Console, every: float = 5.0):
        self.on, self.every, self.clock = on, every, time.monotonic
        self.started: dict[str, tuple[float, int]] = {}
        self.last = -every

    def update(self, key: str, description: str, done: int, total: int | None) -> None:
        if self.on.is_terminal:
            return
        now = self.clock()
        start, first = self.started.setdefault(key, (now, done))
        finished = total is not None and done >= total
        if now - self.last < self.every and not (finished and done > first):
            return
        self.last = now
        rate = (done - first) / (now - start) if now > start else 0.0
        parts = [f"{description}: {done}" + (f"/{total}" if total else "")]
        if rate:
            parts.append(f"{rate:.1f} " + ("images/s" if key == "images" else "fps"))
            if total and not finished:
                left = int((total - done) / rate)
                parts.append(f"ETA {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}")
        self.on.print(", ".join(parts), highlight=False, soft_wrap=True)
        if finished:
            self.started.pop(key, None)


class TrainProgress:
    """Renders the trainer's progress events with Rich."""

    def __enter__(self):
        self.bar = progress_bar(console)
        self.bar.__enter__()
        self.tasks: dict[str, int] = {}
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def _task(self, name: str, total: int) -> int:
        if name not in self.tasks:
            self.tasks[name] = self.bar.add_task(name, total=total, status="")
        return self.tasks[name]

    def __call__(self, e: dict) -> None:
        kind = e["kind"]
        if kind == "notice":
            self.bar.console.print(e["message"], highlight=False)
        elif kind == "screen":
            self.bar.update(self._task(f"screening {e['set']}", e["total"]), completed=e["done"])
        elif kind == "step":
            status = f"loss {e['loss']:.4f}  {e['ips']:.1f} img/s"
            task = self._task("training", e["total"])
            self.bar.update(task, completed=e["step"], status=status)
            if not self.bar.console.is_terminal and e["step"] % 100 == 0:  # logs, torchrun
                self.bar.console.print(f"step {e['step']}/{e['total']}: {status}")
        elif kind == "eval" and "ab_mse" not in e:  # classification stage
            self.bar.console.print(f"step {e['step']}: class acc {e['class_accuracy']:.3f}")
        elif kind == "eval":
            parts = [
                f"step {e['step']}: val ab MSE {e['ab_mse']:.5f}",
                f"PSNR {e['psnr']:.2f} dB (gray {e['psnr_gray']:.2f})",
                f"colourfulness {e['colourfulness']:.1f} (truth {e['colourfulness_truth']:.1f})",
                f"AuC {e['auc']:.3f}",
            ]
            if "class_accuracy" in e:
                parts.append(f"class acc {e['class_accuracy']:.3f}")
            self.bar.console.print(", ".join(parts), highlight=False)
