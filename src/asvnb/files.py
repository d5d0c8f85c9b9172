"""Files that are whole or absent, and the one naming scheme of run and cache folders.

Every writer of a result, cache, checkpoint or corpus file goes through
:func:`atomic_path`: an interrupted run never leaves a truncated file that a
later run would take for a finished one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asvnb.config import stable_hash

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


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, obj: Any, indent: int | None = 1, allow_nan: bool = False) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically; NaN and inf are an error unless ``allow_nan``."""
    return write_text(path, json.dumps(obj, indent=indent, allow_nan=allow_nan) + "\n")


def run_key(settings: Any) -> str:
    """The short hash naming a run or cache folder: everything the run depends on, JSON-serialisable."""
    return stable_hash(settings)[:KEY_CHARS]


def run_dir(root: str | Path, name: str, settings: Any, seed: int | None = None) -> Path:
    """``<root>/<name>-<run_key(settings)>[/seed<seed>]``: the one folder scheme of every trained run."""
    folder = Path(root) / f"{name}-{run_key(settings)}"
    return folder if seed is None else folder / f"seed{seed}"
