"""Output files: checked before the work, written whole, a folder never mixing two runs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from phasewise.outputs import OutputFolder, atomic_path, output_file, write_text_atomic
from phasewise_errors import ConfigError


def test_output_file_refuses_a_folder_and_a_path_below_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--json .*: is a folder; give a file name"):
        output_file(tmp_path, "--json")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        output_file(tmp_path / "f" / "m.json", "--json")
    assert output_file(tmp_path / "new" / "deeper" / "m.json", "--json")
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_atomic_write_replaces_whole_and_keeps_ordinary_permissions(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    target.write_text("earlier")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_atomic_path_leaves_the_target_alone_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "plot.png"
    target.write_text("earlier")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "earlier"
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


def _earlier_run(out: Path) -> None:
    out.mkdir()
    for name in ("plan.json", "timing.txt", "time_space.png", "notes.txt"):
        (out / name).write_text(f"earlier {name}")


def test_commit_replaces_the_run_and_removes_its_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    _earlier_run(out)
    with OutputFolder(out, "--out", managed=("plan.json", "timing.txt", "time_space.png")) as folder:
        folder.path("plan.json").write_text("new plan")
        folder.path("timing.txt").write_text("new sheet")
        folder.commit()
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "plan.json": "new plan", "timing.txt": "new sheet", "notes.txt": "earlier notes.txt"}  # stale png gone
    assert [p.name for p in tmp_path.iterdir()] == ["plan"]


def test_a_failed_or_interrupted_run_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    _earlier_run(out)
    before = {p.name: p.read_text() for p in out.iterdir()}
    for failure in (RuntimeError("fourth file failed"), KeyboardInterrupt()):
        with pytest.raises(type(failure)), OutputFolder(out, "--out", managed=("plan.json",)) as folder:
            folder.path("plan.json").write_text("new plan")
            raise failure
        assert {p.name: p.read_text() for p in out.iterdir()} == before
        assert [p.name for p in tmp_path.iterdir()] == ["plan"]


def test_a_new_folder_appears_whole(tmp_path: Path) -> None:
    out = tmp_path / "a" / "replay"
    with OutputFolder(out, "--out") as folder:
        assert not out.exists()
        folder.path("counts.csv").write_text("bin_start\n")
        folder.commit()
    assert [p.name for p in out.iterdir()] == ["counts.csv"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~_umask()


def test_output_folder_refuses_a_file_and_an_unwritable_place(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text("x")
    with pytest.raises(ConfigError, match="--out .*plan.json: is a file; give a folder"):
        OutputFolder(tmp_path / "plan.json", "--out")
    with pytest.raises(ConfigError, match="cannot write in /proc"):
        OutputFolder(Path("/proc/phasewise-out"), "--out")


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask
