"""Writing files so that nothing half-written ever sits under the final name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


def temporary_beside(path: Path, suffix: str = ".tmp") -> Path:
    """A new empty temporary file in ``path``'s folder (so the final rename is atomic)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def publish(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the permissions a new file would have (mkstemp makes it private), then
    rename it onto ``path``."""
    os.chmod(tmp, 0o666 & ~_UMASK)
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_output(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path to write; on success it becomes ``path``, on error it is removed.

    Args:
        path: the final file.
        suffix: the temporary file's ending; writers that pick a format from the name need
            the real one (e.g. ".png").
    """
    tmp = temporary_beside(Path(path), suffix)
    try:
        yield tmp
        publish(tmp, Path(path))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
