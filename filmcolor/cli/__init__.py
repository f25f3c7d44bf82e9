"""The ``filmcolor`` command: one module per command parses its options into a config from
:mod:`filmcolor.config` and makes one library call; :mod:`filmcolor.cli.render` shows the
results (the one place that uses Rich). Errors a user can cause end here, as one line."""

from __future__ import annotations

import errno
from pathlib import Path

import typer

import filmcolor
from filmcolor.cli.colorize import colorize
from filmcolor.cli.frames import frames
from filmcolor.cli.info import info
from filmcolor.cli.keyframes import keyframes
from filmcolor.cli.preview import preview
from filmcolor.cli.render import fail, say
from filmcolor.cli.shots import shots
from filmcolor.cli.train import train
from filmcolor.errors import UserError


class _Argument(typer.core.TyperArgument):
    """An argument shown as Click shows one: ``video``, ``[video]``, ``videos...`` with its
    element's type (``<path>``), not Typer's ``{videos}...`` and ``<list[Path]>``."""

    def get_usage_pieces(self, ctx) -> list[str]:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return [name + ("..." if self.nargs != 1 else "")]

    def display_type_rich(self, ctx) -> str | None:
        shown = super().display_type_rich(ctx)
        if shown and shown.startswith("<list[") and shown.endswith("]>"):
            return f"<{shown[6:-2].lower()}>"
        return shown


class _Commands(typer.core.TyperGroup):
    """Runs a command; the one place where errors a user can cause become one line on stderr.

    A :class:`UserError` (a bad option value included: :class:`filmcolor.config.ConfigError`),
    a refused permission or another OS error (disk full, ...) ends with ``error: <message>``
    and exit code 1; Ctrl-C with exit code 130. Anything else is a bug and keeps its traceback.
    """

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        for param in getattr(command, "params", ()):
            if type(param) is typer.core.TyperArgument:
                param.__class__ = _Argument
        return command

    def invoke(self, ctx):
        import av.error

        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise fail("interrupted", code=130) from None
        except UserError as e:
            raise fail(str(e)) from None
        except PermissionError as e:
            raise fail(f"permission denied: {e.filename}") from None
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                folder = Path(e.filename).parent if e.filename else "the output folder"
                raise fail(
                    f"disk full while writing in {folder}; the unfinished file was removed "
                    "and nothing was written under the final name"
                ) from None
            raise fail(f"{type(e).__name__}: {e}") from None
        except av.error.FFmpegError as e:
            raise fail(f"{type(e).__name__}: {e}") from None


app = typer.Typer(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Restore colour to black-and-white films and photographs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts say "[default: ...]" literally
)
for command in (colorize, frames, shots, preview, keyframes, train, info):
    app.command()(command)


def _version_callback(value: bool) -> None:
    if not value:
        return
    import av
    import torch

    say(
        f"filmcolor {filmcolor.__version__}, torch {torch.__version__}, PyAV {av.__version__}, "
        f"FFmpeg {av.ffmpeg_version_info}"
    )
    raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "-V", "--version", callback=_version_callback, is_eager=True, help="Print versions."
    ),
) -> None:
    pass


def main() -> None:
    app()
