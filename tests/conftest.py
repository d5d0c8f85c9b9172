"""Fixtures several test files share: one torch thread, a build folder of the test's own, the LA replica."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from replicas import write_la2019


@pytest.fixture()
def one_thread() -> Iterator[None]:
    """Train on one torch thread, as the notebooks do: two stall on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def build_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A build folder of this test's own (``ASVNB_BUILD``): results, runs and caches go there, not to build/."""
    build = tmp_path / "build"
    monkeypatch.setenv("ASVNB_BUILD", str(build))
    return build


@pytest.fixture()
def la2019_root(tmp_path: Path) -> Path:
    """A data root holding the adapter tests' ASVspoof 2019 LA replica (``replicas.write_la2019``)."""
    write_la2019(tmp_path)
    return tmp_path
