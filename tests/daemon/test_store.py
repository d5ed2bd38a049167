"""The state store's refusals: a database it cannot write is named (never called corrupt and
moved aside); a file that is not a database is moved aside and a fresh one started."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from daemon.prometheus import Metrics
from daemon.store import STATE_FILE, StateStore
from phasewise_errors import ConfigError


def test_a_state_database_that_cannot_be_written_is_named_not_moved(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    StateStore(tmp_path).close(0.0)  # a good file
    real_connect = sqlite3.connect

    def read_only(*args, **kwargs):  # type: ignore[no-untyped-def]
        db = real_connect(*args, **kwargs)

        class ReadOnly:
            def execute(self, sql: str, *a: object):  # type: ignore[no-untyped-def]
                if sql.startswith("PRAGMA journal_mode"):
                    raise sqlite3.OperationalError("attempt to write a readonly database")
                return db.execute(sql, *a)

            def close(self) -> None:
                db.close()

        return ReadOnly()

    monkeypatch.setattr(sqlite3, "connect", read_only)  # what a read-only disk does (root ignores file modes)
    with pytest.raises(ConfigError, match="cannot open the state database for writing .*readonly"):
        StateStore(tmp_path, Metrics())
    assert (tmp_path / STATE_FILE).exists() and not list(tmp_path.glob("*.corrupt-*"))


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_bytes(b"not a database at all" * 500)
    metrics = Metrics()
    store = StateStore(tmp_path, metrics)
    assert store.recovered_from_corruption and len(list(tmp_path.glob("*.corrupt-*"))) == 1
    assert metrics.get("phasewise_state_write_errors_total", kind="corrupt") == 1.0
    store.close(0.0)
