"""Run many ``phasewise`` command lines in one subprocess: the CLI's start-up (SUMO, OR-Tools,
OpenCV imports: about a second) is paid once instead of once per command line.

Each command line goes through ``phasewise.cli.main``, the function the ``phasewise`` script
calls, with ``sys.argv`` set, its standard input given, and file descriptors 1 and 2 sent to
files (so what C libraries print, OpenCV's warnings for one, is caught too); the exit code is
the ``SystemExit`` it ends with. For command lines that are refused before any work starts
(usage errors, bad files): a command that starts servers or signal handlers needs a process
of its own.

    results = run_batch([(["token", "hash"], b"alice.s3cret\\n"), (["serve", "--port", "x"], b"")], cwd=ROOT)
    results[0].returncode, results[0].stdout, results[0].stderr
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path


class CommandTimedOut(BaseException):
    """A command line ran past its time (a server left running, a hang): exit code -1."""


def run_batch(command_lines: Sequence[tuple[Sequence[str], bytes]], *, cwd: Path, per_command_s: int = 60,
              env: dict[str, str] | None = None) -> list[subprocess.CompletedProcess[str]]:
    """Run ``(args, stdin)`` command lines one after the other in a fresh Python process; one
    that runs past ``per_command_s`` is stopped and reported with exit code -1."""
    request = json.dumps({"per_command_s": per_command_s,
                          "lines": [[list(args), stdin.hex()] for args, stdin in command_lines]})
    done = subprocess.run([sys.executable, __file__], input=request, capture_output=True, text=True, cwd=cwd,
                          timeout=per_command_s * (len(command_lines) + 1), env=env)
    if done.returncode != 0:
        raise RuntimeError(f"the batch runner failed ({done.returncode}): {done.stderr[-3000:]}")
    return [subprocess.CompletedProcess(["phasewise", *args], code, out, err)
            for (args, _), (code, out, err) in zip(command_lines, json.loads(done.stdout))]


def _run_one(args: list[str], stdin: bytes, per_command_s: int) -> tuple[int, str, str]:
    import phasewise.cli

    def time_is_up(signum: int, frame: object) -> None:
        raise CommandTimedOut

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
        sys.argv = ["phasewise", *args]
        # what a command may change for the rest of the process: put back after it
        root = logging.getLogger()
        kept_logging = list(root.handlers), root.level
        kept_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        previous = signal.signal(signal.SIGALRM, time_is_up)
        signal.alarm(per_command_s)
        try:
            phasewise.cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except CommandTimedOut:
            code = -1
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
            for number, handler in kept_signals.items():
                signal.signal(number, handler)
            root.handlers[:], root.level = kept_logging
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return code, out.read().decode(errors="replace"), err.read().decode(errors="replace")


def _main() -> None:
    # the checkout under test, as ``python -m phasewise.cli`` from its root would import it
    sys.path[0] = str(Path(__file__).resolve().parents[2])
    request = json.loads(sys.stdin.read())
    real_stdout = os.dup(1)
    results = [_run_one(args, bytes.fromhex(stdin), request["per_command_s"]) for args, stdin in request["lines"]]
    with os.fdopen(real_stdout, "w") as fh:
        fh.write(json.dumps(results))


if __name__ == "__main__":
    _main()
