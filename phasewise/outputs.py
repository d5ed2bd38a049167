"""Output files of the CLI: checked before any work, written whole or not at all.

A long run must not end in "cannot write" after the work is done, and a failed or
interrupted run must not leave a file half written or a folder mixing two runs' files:

    json_path = output_file(json_out, "--json")          # checked now, before simulating
    ...
    write_text_atomic(json_path, text)                   # temp file beside it, then rename

    with OutputFolder(out, "--out", managed=PLAN_FILES) as folder:   # checked and staged now
        folder.path("plan.json").write_text(...)         # written into a hidden staging folder
        folder.commit()                                  # moved into ``out`` together

Renames stay within one folder (one filesystem), so each file appears complete or not at all.
Only a regular file is ever replaced: a device or a pipe given as the output (``--json
/dev/stdout``) is written into, a symbolic link keeps pointing where it did (the file it
points to is replaced). A write that fails for want of room (a full disk, ``/dev/full``, a
quota, a file size limit) is a ``ConfigError`` naming the option and the path.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from phasewise_errors import ConfigError


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe_writable(folder: Path, option: str, target: Path) -> None:
    """ConfigError unless a file can be created in ``folder`` (tried for real: os.access lies for root)."""
    if not folder.is_dir():
        raise ConfigError(f"{option} {target}: {folder} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".phasewise-probe-", dir=folder)
    except OSError as exc:
        raise ConfigError(f"{option} {target}: cannot write in {folder} ({exc.strerror or exc})") from None
    os.close(handle)
    os.unlink(probe)


# errors of a write that the machine refused for want of room or a broken disk
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


def _special(path: Path) -> bool:
    """An existing output that is no regular file or folder: a device, a pipe, a socket."""
    return path.exists() and not path.is_file() and not path.is_dir()


def _cannot_write(exc: OSError, option: str, path: Path) -> ConfigError:
    where = f"{option} {path}" if option else str(path)
    return ConfigError(f"{where}: cannot write ({exc.strerror or exc})")


def output_file(path: Path, option: str) -> Path:
    """``path`` if a file can be written there later; ConfigError naming the option otherwise.

    Nothing is created: missing parent folders are checked on the nearest existing one. A
    device or pipe (``/dev/stdout``) must be writable; it is written into, not replaced.
    """
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder; give a file name")
    if _special(path):
        if not os.access(path, os.W_OK):
            raise ConfigError(f"{option} {path}: cannot write (not writable)")
        return path
    _probe_writable(_nearest_existing(path.parent), option, path)
    return path


def write_text_atomic(path: Path, text: str, option: str = "") -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file beside it and a rename."""
    with atomic_path(path, option) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextmanager
def atomic_path(path: Path, option: str = "") -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix, for writers that pick the format by it);
    renamed onto ``path`` when the block succeeds, removed when it fails.

    ``path`` a device or pipe: the temporary file (in the temporary folder) is copied into it
    when the block succeeds; a symbolic link: the file it points to is replaced.
    """
    special = _special(path)  # follows links: /dev/stdout is one
    target = path if special or not path.is_symlink() else path.resolve()
    folder = Path(tempfile.gettempdir()) if special else target.parent
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=folder)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        if special:
            with tmp.open("rb") as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
        else:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the output is an ordinary file
            os.replace(tmp, target)
    except OSError as exc:
        if exc.errno in _NO_ROOM and exc.filename in (None, str(tmp), str(target)):
            raise _cannot_write(exc, option, path) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


class OutputFolder:
    """An output folder filled through a hidden staging folder beside it.

    Files are written to ``folder.path(name)``; ``commit()`` moves them into the output
    folder and removes ``managed`` files an earlier run left there that this run did not
    write (so the folder never mixes two runs). Leaving the ``with`` block without
    ``commit()`` (an error, Ctrl-C) removes the staging folder and leaves ``out`` as it was.
    """

    def __init__(self, out: Path, option: str, *, managed: Iterable[str] = ()) -> None:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"{option} {out}: is a file; give a folder")
        parent = _nearest_existing(out.parent)
        _probe_writable(parent, option, out)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.option = option
        self.managed = set(managed)
        self.staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
        os.chmod(self.staging, 0o777 & ~_umask())  # mkdtemp makes it private; it may become ``out`` itself
        self.committed = False

    def path(self, name: str) -> Path:
        """Where to write output file ``name`` (inside the staging folder until commit)."""
        return self.staging / name

    def commit(self) -> None:
        """Move every staged file into the output folder, replacing the earlier run's files."""
        if not self.out.exists():
            os.replace(self.staging, self.out)
        else:
            written = {p.name for p in self.staging.iterdir()}
            for name in sorted(written):
                os.replace(self.staging / name, self.out / name)
            for stale in sorted(self.managed - written):
                (self.out / stale).unlink(missing_ok=True)
            self.staging.rmdir()
        self.committed = True

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.committed:
            self.discard()
        # a write into the folder that failed for want of room: name the folder, not just errno
        if isinstance(exc, OSError) and exc.errno in _NO_ROOM and (
                exc.filename is None or str(exc.filename).startswith((str(self.staging), str(self.out)))):
            raise _cannot_write(exc, self.option, self.out) from None
