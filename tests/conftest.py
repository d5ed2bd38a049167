"""Shared fixtures: paths to the real scenarios in ../shared (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("PHASEWISE_SHARED", Path(__file__).resolve().parent.parent.parent / "shared"))


@pytest.fixture(scope="session")
def shared_scenarios() -> Path:
    path = SHARED / "scenarios"
    if not path.is_dir():
        raise FileNotFoundError(f"shared scenarios not found at {path}: set PHASEWISE_SHARED")
    return path
