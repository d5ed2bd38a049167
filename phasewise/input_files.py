"""Input files named on the command line: read once, with errors that name option and file.

Every command reads the files its options name through :func:`input_file` (the path checked:
there, a file, not a folder) or :func:`read_input_text` (the text, which must be UTF-8: a
binary file, a video given where a CSV belongs, is refused before any parser sees it)::

    text = read_input_text(path, "--plan", "a plan.json or plan.add.xml from phasewise optimize")

Problems raise ``ConfigError``: one line, exit 2, naming the option, the file and the fix.
"""

from __future__ import annotations

from pathlib import Path

from phasewise_errors import ConfigError


def input_file(path: Path, option: str, what: str) -> Path:
    """``path`` if it is a readable file; ConfigError naming ``option`` otherwise.

    ``what`` says what the file should be ("a demand CSV (tls,movement,flow_veh_h)").
    """
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder; give {what}")
    if not path.exists():
        raise ConfigError(f"{option} {path}: file not found; give {what}")
    if not path.is_file():
        raise ConfigError(f"{option} {path}: not a regular file; give {what}")
    return path


def read_input_text(path: Path, option: str, what: str) -> str:
    """The UTF-8 text of input file ``path`` (a byte-order mark is dropped)."""
    input_file(path, option, what)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot read ({exc.strerror or exc})") from None
    if b"\0" in data[:65536]:
        raise ConfigError(f"{option} {path}: a binary file, not text; give {what}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{option} {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
