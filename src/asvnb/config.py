"""Profiles, paths, seeding and the environment fingerprint.

Three profiles run the same code: ``embedded`` (the generated corpus and locally
built models, 2 CPU cores, no network: the book), ``full`` (the real datasets and
hub models, a GPU on Colab) and ``ci`` (the generated corpus at its smallest
scale and the smallest sizes that still run every code path: the tests'; its
numbers mean nothing). Only data paths, sizes and weights differ.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import random
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
import yaml

from asvnb import __version__
from asvnb.errors import json_object
from asvnb.provenance import git_state

PROFILES = ("embedded", "full", "ci")
# the profiles that read the generated corpus, and the scale each builds (data/synth/scales.yaml)
GENERATED_SCALES = {"embedded": "small", "ci": "tiny"}
# manifest keys that say how a corpus build went, not what the corpus holds
BUILD_LOG_KEYS = (
    "build_seconds",
    "stage_seconds",
    "files_written_this_run",
    "packages_installed_this_run",
    "built_at",
)
T = TypeVar("T")


def project_root() -> Path:
    """The checkout holding ``_toc.yml`` (editable install), else the working directory."""
    here = Path(__file__).resolve().parents[2]
    if (here / "_toc.yml").is_file() or (here / "pyproject.toml").is_file():
        return here
    return Path.cwd()


def data_root() -> Path:
    """Root of generated data: ``$ASVNB_DATA`` or ``<project>/data``."""
    return Path(os.environ.get("ASVNB_DATA", project_root() / "data"))


def embedded_root() -> Path:
    """Where ``asvnb data synth`` writes the embedded corpus."""
    return data_root() / "embedded"


def generated(profile: str) -> bool:
    """Whether a profile reads the generated corpus (``embedded``, ``ci``) rather than the real datasets."""
    return check_profile(profile) in GENERATED_SCALES


def corpus_root(profile: str) -> Path:
    """Where a generated profile's corpus lives: ``data/embedded``, or ``data/ci`` for the CI profile's tiny one."""
    if not generated(profile):
        raise ValueError(f"profile {profile!r} reads the real datasets, not a generated corpus")
    return embedded_root() if profile == "embedded" else data_root() / profile


def build_root() -> Path:
    """Root of executed notebooks, run outputs and checkpoints: ``$ASVNB_BUILD`` or ``<project>/build``."""
    return Path(os.environ.get("ASVNB_BUILD", project_root() / "build"))


def runs_root() -> Path:
    """Checkpoints, histories and exported models of every training run."""
    return build_root() / "runs"


def check_profile(profile: str) -> str:
    """Validate a profile name."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    return profile


@dataclass(frozen=True)
class Paths:
    """Where one study reads data and writes its outputs."""

    data: Path
    out: Path

    @classmethod
    def for_profile(
        cls, profile: str, study: str, data_root_override: str | Path | None = None
    ) -> Paths:
        """Default paths of a profile: the embedded corpus, or a user-given root of the real datasets."""
        check_profile(profile)
        if data_root_override:
            data = Path(data_root_override).expanduser()
        elif generated(profile):
            data = corpus_root(profile)
        else:
            raise ValueError(
                "profile 'full' needs data_root: the folder that holds the real datasets "
                "(see the book's chapter 'Rerun a study on Colab')"
            )
        return cls(data=data, out=runs_root() / study / profile)


def resolve_device(device: str = "auto") -> str:
    """``auto`` picks CUDA when present, else the CPU."""
    import torch  # heavy: the command line imports this module before it has checked its arguments

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (and CUDA when present)."""
    import torch  # heavy (see resolve_device)

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def data_fingerprint(root: str | Path) -> str:
    """Short hash of a data folder: its MANIFEST.json when present, else names and sizes of its protocol/metadata files.

    Hashing every audio file of the real datasets would take minutes; the
    manifests and protocol files change whenever the content does.
    """
    root = Path(root)
    if not root.exists():
        return "missing"
    h = hashlib.sha256()
    manifest = root / "MANIFEST.json"
    if manifest.is_file():
        content = json_object(manifest, "rebuild with `asvnb data synth`")
        # timings and per-run counters say how a build went, not what the corpus holds
        volatile = {*BUILD_LOG_KEYS, "checked_by"}  # how a build went and which code last looked
        h.update(
            json.dumps(
                {k: v for k, v in content.items() if k not in volatile}, sort_keys=True
            ).encode()
        )
    else:
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() in {".txt", ".tsv", ".csv", ".json"} and p.is_file():
                h.update(f"{p.relative_to(root)}:{p.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def fingerprint(data: str | Path | None = None, device: str | None = None) -> dict:
    """Everything needed to tell two runs apart: package, commit, python, torch, device, data."""
    import torch  # heavy (see resolve_device)

    dev = resolve_device(
        device or "auto"
    )  # "auto" would otherwise be recorded as the device, not the GPU's name
    fp = {
        "asvnb": __version__,
        **git_state(),  # git_commit and git_dirty
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else "not available",
        "device": torch.cuda.get_device_name(0)
        if dev.startswith("cuda") and torch.cuda.is_available()
        else dev,
        "cpu_threads": torch.get_num_threads(),
    }
    if data is not None:
        fp["data_root"] = str(data)
        fp["data_fingerprint"] = data_fingerprint(data)
    return fp


def show_fingerprint(fp: dict) -> None:
    """Print a fingerprint as aligned ``key: value`` lines (what every notebook shows first)."""
    width = max(len(k) for k in fp)
    for k, v in fp.items():
        print(f"{k:<{width}}  {v}")


def stable_hash(obj: object) -> str:
    """SHA-256 of a JSON-serialisable object with sorted keys."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


# ----------------------------------------------------------------------------- settings as data


def settings_dir() -> Path:
    """``asvnb/configs``: one folder per study, one YAML file per profile (and ``source.yaml``)."""
    return Path(__file__).parent / "configs"


def settings_file(study: str, profile: str) -> Path:
    """The YAML file of a study's profile (``profile`` may also be ``source``, the source's own settings)."""
    if profile != "source":
        check_profile(profile)
    path = settings_dir() / study / f"{profile}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no settings for study {study!r}, profile {profile!r}")
    return path


def _set_dotted(tree: dict, key: str, value: Any, where: str) -> None:
    *parents, leaf = key.split(".")
    node = tree
    for i, part in enumerate(parents):
        if not isinstance(node.get(part), dict):
            raise KeyError(f"{where}: no setting {'.'.join(parents[: i + 1])!r} to override")
        node = node[part]
    if leaf not in node:
        raise KeyError(f"{where}: no setting {key!r} to override; known: {', '.join(sorted(node))}")
    node[leaf] = value


def load_settings(
    study: str, profile: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A study's settings for ``profile`` from its YAML file, with ``overrides`` applied.

    Override keys are dotted paths into the file (``setups.CNN.epochs``); a key
    the file does not have is a KeyError naming the file, so a misspelt setting
    cannot vanish. A value of None means "the profile's value" and is skipped:
    that is what a notebook parameter left at None says.
    """
    path = settings_file(study, profile)
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(tree, key, value, str(path))
    return tree


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """``value`` as type ``tp``: nested dataclasses, dicts and tuples of them built from YAML data."""
    if value is None:
        return None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where) if len(inner) == 1 else value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is dict and len(args) == 2:
        return {k: _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        return tuple(value)
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "settings", **extra: Any) -> T:
    """Build dataclass ``cls`` from ``data`` (plus ``extra``); a key ``cls`` lacks is a KeyError naming ``where``."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise KeyError(f"{where}: unknown setting(s) {', '.join(unknown)} for {cls.__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs, **extra)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``{"a.b.c": value}``."""
    flat: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            flat.update(flatten(v, key + "."))
        else:
            flat[key] = v
    return flat


class StudySettings:
    """What every study's settings dataclass shares: it is read from the study's YAML files.

    A subclass sets ``STUDY`` (its folder under ``asvnb/configs``) and may
    override :meth:`_tree` (parameters that are not keys of the file, such as
    "every model's epochs") and :meth:`_finish` (settings computed from others).
    """

    STUDY: ClassVar[str]

    @classmethod
    def for_profile(cls, profile: str, data_root: str | Path | None = None, **params: Any) -> Self:
        """The profile's YAML settings with ``params``: keys of the file, dotted for nested ones, or the study's
        named parameters (see its ``_tree``); None keeps the file's value."""
        return cls._build(
            profile, profile, Paths.for_profile(profile, cls.STUDY, data_root), params
        )

    @classmethod
    def source_settings(cls, data_root: str | Path | None = None, **params: Any) -> Self:
        """The source's own settings on the real data (``source.yaml``), what every departure is measured
        from; not a profile (``benchmarks/gpu_check.py --settings source`` projects their cost)."""
        return cls._build("source", "full", Paths.for_profile("full", cls.STUDY, data_root), params)

    @classmethod
    def _build(cls, file: str, profile: str, paths: Paths, params: Mapping[str, Any]) -> Self:
        tree, extra = cls._tree(file, dict(params))
        where = str(settings_file(cls.STUDY, file))
        return from_dict(cls, tree, where, profile=profile, paths=paths, **extra)._finish()

    @classmethod
    def _tree(cls, file: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The settings tree of ``file`` with ``params``, and the fields given as objects, not file keys."""
        return load_settings(cls.STUDY, file, params), {}

    def _finish(self) -> Self:
        """The settings with those computed from the others filled in (none here)."""
        return self


def departures(reference: Mapping[str, Any], ours: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """Every setting where ``ours`` differs from ``reference``: ``(dotted key, reference value, ours)``."""
    a, b = flatten(reference), flatten(ours)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
