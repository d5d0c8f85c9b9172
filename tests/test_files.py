"""Files and folders that are whole or absent (``asvnb.files``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asvnb import files


def test_atomic_path_replaces_the_file_on_success_and_leaves_it_on_error(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "scores.txt"
    files.write_text(target, "first\n")
    assert target.read_text() == "first\n"
    with pytest.raises(RuntimeError), files.atomic_path(target) as tmp:
        assert tmp.suffix == ".txt" and tmp.parent == target.parent
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "first\n"
    assert not list(target.parent.glob(files.TEMP_GLOB))


def test_staged_dir_puts_a_whole_folder_in_place(tmp_path: Path) -> None:
    best = tmp_path / "run" / "best"
    with files.staged_dir(best) as tmp:
        assert tmp == best.with_name("best.tmp") and tmp.is_dir() and not any(tmp.iterdir())
        (tmp / "model.pt").write_bytes(b"one")
        assert not best.exists()  # nothing there until the folder is finished
    assert (best / "model.pt").read_bytes() == b"one"
    with files.staged_dir(best) as tmp:
        (tmp / "model.pt").write_bytes(b"two")
    assert sorted(p.name for p in best.parent.iterdir()) == ["best"]  # no .tmp, no .old left
    assert (best / "model.pt").read_bytes() == b"two"


def test_staged_dir_keeps_the_old_folder_when_writing_fails(tmp_path: Path) -> None:
    best = tmp_path / "best"
    best.mkdir()
    (best / "model.pt").write_bytes(b"old")
    (tmp_path / "best.tmp").mkdir()  # what a killed process leaves: emptied first
    (tmp_path / "best.tmp" / "stale").write_text("x")
    with pytest.raises(OSError, match="disk full"), files.staged_dir(best) as tmp:
        assert not (tmp / "stale").exists()
        (tmp / "model.pt").write_bytes(b"ha")
        raise OSError("disk full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]
    assert (best / "model.pt").read_bytes() == b"old"


def test_replace_dir_moves_the_old_folder_aside_and_removes_it_last(tmp_path: Path) -> None:
    new, dst = tmp_path / "checkpoint.tmp", tmp_path / "checkpoint"
    new.mkdir()
    (new / "state").write_text("epoch 2")
    assert files.replace_dir(new, dst) == dst and (dst / "state").read_text() == "epoch 2"
    new.mkdir()
    (new / "state").write_text("epoch 3")
    (tmp_path / "checkpoint.old").mkdir()  # left by a crash before an earlier call removed it
    files.replace_dir(new, dst)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    assert (dst / "state").read_text() == "epoch 3"
