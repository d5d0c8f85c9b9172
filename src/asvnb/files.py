"""Files and folders that are whole or absent, and the one naming scheme of run and cache folders.

Every writer of a result, cache, checkpoint or corpus file goes through
:func:`atomic_path`, and of a model or checkpoint folder through
:func:`staged_dir` or :func:`replace_dir`: an interrupted run never leaves a
truncated file or half a folder that a later run would take for a finished one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asvnb.config import stable_hash
from asvnb.provenance import code_key

KEY_CHARS = 10  # hex digits of a run key: 40 bits, no collision among a study's few dozen runs
TEMP_GLOB = "*.part*"  # what an interrupted atomic write can leave behind (see atomic_path)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    The temporary name keeps the suffix (``x.part<pid>.npy``), so writers that
    add or check a suffix (numpy, soundfile, torch) write where they are told;
    the process id keeps two processes writing one file from sharing it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.part{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)  # atomic on one file system
    finally:
        tmp.unlink(missing_ok=True)


def replace_dir(src: str | Path, dst: str | Path) -> Path:
    """Rename folder ``src`` to ``dst``, replacing it; a crash on the way leaves one finished folder.

    A folder cannot replace another in one rename, as a file can: the old one steps
    aside to ``<dst>.old`` first and is removed last (a reader may fall back on it).
    """
    src, dst = Path(src), Path(dst)
    old = dst.with_name(dst.name + ".old")
    if dst.exists():
        shutil.rmtree(old, ignore_errors=True)
        dst.rename(old)
    src.rename(dst)
    shutil.rmtree(old, ignore_errors=True)
    return dst


@contextmanager
def staged_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty ``<path>.tmp`` folder to fill; on success it replaces ``path`` (:func:`replace_dir`).

    On error the partial folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)  # left by a process that was killed
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, obj: Any, indent: int | None = 1, allow_nan: bool = False) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically; NaN and inf are an error unless ``allow_nan``."""
    return write_text(path, json.dumps(obj, indent=indent, allow_nan=allow_nan) + "\n")


def run_key(settings: Any, code: Sequence[str]) -> str:
    """The short hash naming a run or cache folder: everything the run depends on, JSON-serialisable, and the
    code that makes it (``code``: the package modules it runs, keyed with every module they import)."""
    return stable_hash({"settings": settings, "code": code_key(*code)})[:KEY_CHARS]


def run_dir(
    root: str | Path, name: str, settings: Any, seed: int | None = None, *, code: Sequence[str]
) -> Path:
    """``<root>/<name>-<run_key(settings, code)>[/seed<seed>]``: the one folder scheme of every trained run."""
    folder = Path(root) / f"{name}-{run_key(settings, code)}"
    return folder if seed is None else folder / f"seed{seed}"
