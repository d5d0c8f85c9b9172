"""What a trained countermeasure needs to score audio it has never seen: a small JSON card beside its weights.

A run folder of the trainer holds the weights (``best/model.pt`` or a
transformers ``save_pretrained`` folder) and, in ``asvnb_model.json``, how to
rebuild the network; it does not say what the network reads (waveform,
spectrogram image of which size and FFT, at which rate, cropped how), which of
its outputs is bona fide, nor where to put a threshold. :func:`describe_detector`
writes that as ``asvnb_detector.json`` in the same folder, so that ``asvnb score``
(:mod:`asvnb.scoring`) can rebuild and run any detector the book trained
without importing the study that trained it. Each study calls it once per
trained countermeasure, after scoring its development set::

    e, thr = metrics.eer(dev_bonafide_scores, dev_spoof_scores)
    describe_detector(run.best_dir, model=model_config(SpectrogramCNN, n_classes=2, in_channels=3),
                      sample_rate=16000, frontend=image_frontend(nfft=512, size=96),
                      clip=crop_or_pad(4.0), bonafide_class=0,
                      threshold=dev_threshold(thr, e, "LA19 dev"), name="CNN", study="01_cnn_vs_resnet50")

Scores are the log-odds of the bona fide class against the others, computed
from the network's logits (higher = more bona fide, the ASVspoof convention).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asvnb import files

DETECTOR_FILE = "asvnb_detector.json"
INDEX_FILE = (
    "detectors.json"  # a study's list of the detectors this build trained (register_detector)
)
VERSION = 1
FRONTENDS = ("waveform", "spectrogram_image", "transformers")
CLIP_MODES = ("whole", "crop_or_pad", "segments")


class DetectorCardError(ValueError):
    """A detector card (``asvnb_detector.json``) that is missing, malformed or inconsistent with its folder."""


# ----------------------------------------------------------------------------- parts of a card


def waveform_frontend() -> dict[str, Any]:
    """The network reads a ``(batch, samples)`` waveform and computes its own features (e.g. ResNetSE's log-mel)."""
    return {"kind": "waveform"}


def image_frontend(
    nfft: int, noverlap: int | None = None, size: int = 224, model_size: int | None = None
) -> dict[str, Any]:
    """Spectrogram images (the tensor route of :class:`asvnb.features.SpecgramImage`): drawn ``size`` x ``size`` as
    8-bit pixels, scaled to ``model_size`` when the network runs on smaller pictures, then divided by 255."""
    noverlap = nfft // 2 if noverlap is None else noverlap
    if (
        nfft < 1
        or not 0 <= noverlap < nfft
        or size < 1
        or (model_size is not None and model_size < 1)
    ):
        raise DetectorCardError(
            f"bad spectrogram image settings: nfft {nfft}, noverlap {noverlap}, size {size}, "
            f"model_size {model_size}"
        )
    return {
        "kind": "spectrogram_image",
        "nfft": int(nfft),
        "noverlap": int(noverlap),
        "size": int(size),
        "model_size": int(model_size or size),
    }


def transformers_frontend() -> dict[str, Any]:
    """A transformers audio classifier (the WavLM detector) with its feature extractor saved in the same folder."""
    return {"kind": "transformers"}


def whole() -> dict[str, Any]:
    """Score the whole recording in one pass."""
    return {"mode": "whole"}


def crop_or_pad(seconds: float) -> dict[str, Any]:
    """Score the first ``seconds`` (repeat-padded when shorter: :func:`asvnb.audio.crop_or_pad`), as in training."""
    return {"mode": "crop_or_pad", "seconds": _seconds(seconds)}


def segments(seconds: float, pad_last: bool = False) -> dict[str, Any]:
    """Score consecutive ``seconds``-long pieces and average their scores; a shorter last piece is kept as it is,
    or with ``pad_last`` repeat-padded to ``seconds`` (for networks that read a picture of a fixed duration)."""
    out: dict[str, Any] = {"mode": "segments", "seconds": _seconds(seconds)}
    if pad_last:
        out["pad_last"] = True
    return out


def _seconds(seconds: float) -> float:
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise DetectorCardError(
            f"clip length must be a positive number of seconds, got {seconds!r}"
        )
    return float(seconds)


def dev_threshold(
    value: float, eer: float | None = None, data: str = "", rule: str = "dev EER"
) -> dict[str, Any]:
    """The decision threshold stored with a detector: its value on the score scale, the rule, the set and its EER."""
    if not math.isfinite(float(value)):
        raise DetectorCardError(f"threshold must be finite, got {value!r}")
    if eer is not None and not 0.0 <= float(eer) <= 1.0:
        raise DetectorCardError(f"EER must be a fraction in [0, 1], got {eer!r}")
    return {
        "value": float(value),
        "rule": rule,
        "data": data,
        "eer": None if eer is None else float(eer),
    }


def _jsonable(x: Any, where: str) -> Any:
    """Keyword arguments as JSON: dataclasses (e.g. a SpecConfig) as dicts, tuples as lists, paths as text."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {k: _jsonable(v, where) for k, v in dataclasses.asdict(x).items()}
    if isinstance(x, dict):
        return {str(k): _jsonable(v, where) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v, where) for v in x]
    if isinstance(x, Path):
        return str(x)
    if x is None or isinstance(x, (bool, int, str)) or (isinstance(x, float) and math.isfinite(x)):
        return x
    raise DetectorCardError(
        f"{where}: {x!r} ({type(x).__name__}) cannot be saved in a detector card"
    )


# ----------------------------------------------------------------------------- the card


@dataclass(frozen=True)
class DetectorCard:
    """Everything needed to score audio with a trained detector (see the module docstring)."""

    sample_rate: int
    frontend: dict[str, Any]
    clip: dict[str, Any]
    bonafide_class: int
    model: dict[str, Any] | None = (
        None  # {"factory": "module:name", "kwargs": {...}}; None for transformers
    )
    threshold: dict[str, Any] | None = None  # dev_threshold(...), or None (the user then gives one)
    name: str = ""
    study: str = ""
    seed: int | None = None  # the training run's seed, when the study trains several
    version: int = VERSION

    def __post_init__(self) -> None:
        kind = self.frontend.get("kind") if isinstance(self.frontend, dict) else None
        if kind not in FRONTENDS:
            raise DetectorCardError(
                f"front end must be one of {', '.join(FRONTENDS)}, got {self.frontend!r}"
            )
        mode = self.clip.get("mode") if isinstance(self.clip, dict) else None
        if mode not in CLIP_MODES:
            raise DetectorCardError(
                f"clip mode must be one of {', '.join(CLIP_MODES)}, got {self.clip!r}"
            )
        if mode != "whole":
            _seconds(self.clip.get("seconds"))
        if not (isinstance(self.sample_rate, int) and self.sample_rate > 0):
            raise DetectorCardError(
                f"sample rate must be a positive integer, got {self.sample_rate!r}"
            )
        if not (isinstance(self.bonafide_class, int) and self.bonafide_class >= 0):
            raise DetectorCardError(
                f"bonafide_class must be a class index >= 0, got {self.bonafide_class!r}"
            )
        if kind != "transformers":
            factory = (self.model or {}).get("factory", "")
            if not (isinstance(factory, str) and factory.startswith("asvnb.") and ":" in factory):
                raise DetectorCardError(
                    f"model must name a factory of the asvnb package ('asvnb.module:name', "
                    f"from asvnb.train.model_config), got {self.model!r}"
                )
        if self.threshold is not None:
            dev_threshold(**self.threshold)

    def as_dict(self) -> dict[str, Any]:
        """The card as JSON-ready data."""
        return dataclasses.asdict(self)


def describe_detector(
    folder: str | Path,
    *,
    sample_rate: int,
    frontend: dict[str, Any],
    bonafide_class: int,
    clip: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    threshold: dict[str, Any] | None = None,
    name: str = "",
    study: str = "",
    seed: int | None = None,
    index: str | Path | None = None,
) -> Path:
    """Write ``folder/asvnb_detector.json`` (atomically) beside a detector's weights; returns its path.

    ``folder`` is the trainer's exported ``best`` folder (``model.pt``) or a
    transformers folder (``config.json``). ``model`` is
    :func:`asvnb.train.model_config` of the network; when omitted for a
    trainer export it is read from the folder's ``asvnb_model.json``.
    ``threshold`` is :func:`dev_threshold` of the development set's EER point
    (None: whoever scores must give one). ``index``: the study's
    ``detectors.json`` (:func:`register_detector`), so the leaderboard finds it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DetectorCardError(f"{folder}: no such model folder")
    if frontend.get("kind") == "transformers":
        if not (folder / "config.json").is_file():
            raise DetectorCardError(f"{folder}: a transformers detector folder needs config.json")
    else:
        if not (folder / "model.pt").is_file():
            raise DetectorCardError(f"{folder}: no model.pt (the weights the trainer exports)")
        if model is None:
            model = _exported_model_config(folder)
    if model is not None:
        model = {
            "factory": model.get("factory"),
            "kwargs": _jsonable(model.get("kwargs", {}), f"{folder}: model"),
        }
    card = DetectorCard(
        sample_rate=int(sample_rate),
        frontend=dict(frontend),
        clip=dict(clip or whole()),
        bonafide_class=int(bonafide_class),
        model=model,
        threshold=threshold,
        name=name,
        study=study,
        seed=None if seed is None else int(seed),
    )
    path = folder / DETECTOR_FILE
    _write_json(path, card.as_dict())
    if index is not None:
        register_detector(index, folder, name=name, seed=seed)
    return path


def _write_json(path: Path, data: Any) -> None:
    files.write_json(path, data)


# ----------------------------------------------------------------------------- a study's index of its detectors


def register_detector(
    index: str | Path, folder: str | Path, *, name: str, seed: int | None
) -> Path:
    """Record in ``index`` (a study's ``detectors.json``) that detector ``name`` of ``seed`` is now ``folder``.

    A run folder is named by the hash of its settings, so older runs stay on
    disk beside the current ones; the index says which ones this build uses
    (the latest registration of a name and seed wins). Folders are stored
    relative to the index. An exclusive lock keeps parallel notebooks from
    losing each other's entries.
    """
    import fcntl  # POSIX only: imported where the lock is taken, so the module loads anywhere

    index, folder = Path(index), Path(folder)
    if not name:
        raise DetectorCardError(f"{index}: a registered detector needs a name")
    if not (folder / DETECTOR_FILE).is_file():
        raise DetectorCardError(
            f"{folder}: no {DETECTOR_FILE} to register (describe_detector writes it)"
        )
    index.parent.mkdir(parents=True, exist_ok=True)
    with open(index.with_name(index.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = (
            [e for e in _read_index(index) if (e["name"], e["seed"]) != (name, seed)]
            if index.exists()
            else []
        )
        entries.append(
            {
                "name": name,
                "seed": None if seed is None else int(seed),
                "folder": os.path.relpath(folder.resolve(), index.parent.resolve()),
            }
        )
        entries.sort(key=lambda e: (e["name"], -1 if e["seed"] is None else e["seed"]))
        _write_json(index, {"version": VERSION, "detectors": entries})
    return index


def reset_detector_index(out: str | Path) -> Path:
    """Empty the index of a study's output folder (``out/detectors.json``) as a notebook run starts, so that it lists
    exactly the detectors that run trains (a model an older run trained, or a quick run skipped, is not listed)."""
    index = Path(out) / INDEX_FILE
    index.parent.mkdir(parents=True, exist_ok=True)
    _write_json(index, {"version": VERSION, "detectors": []})
    return index


def _read_index(index: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DetectorCardError(f"{index}: unreadable detector index ({exc})") from None
    entries = doc.get("detectors") if isinstance(doc, dict) else None
    if (
        doc.get("version") != VERSION
        or not isinstance(entries, list)
        or not all(
            isinstance(e, dict)
            and isinstance(e.get("name"), str)
            and isinstance(e.get("folder"), str)
            and (e.get("seed") is None or isinstance(e.get("seed"), int))
            for e in entries
        )
    ):
        raise DetectorCardError(
            f"{index}: not a version {VERSION} detector index "
            '({"version": 1, "detectors": [{"name", "seed", "folder"}, ...]})'
        )
    return entries


def read_detector_index(index: str | Path) -> list[tuple[str, int | None, Path]]:
    """``(name, seed, folder)`` of every detector a study registered; a folder that is gone is an error."""
    index = Path(index)
    out = []
    for e in _read_index(index):
        folder = (index.parent / e["folder"]).resolve()
        if not (folder / DETECTOR_FILE).is_file():
            raise DetectorCardError(
                f"{index}: detector {e['name']!r} seed {e['seed']}: {folder} has no "
                f"{DETECTOR_FILE} (the run was deleted; rebuild the study)"
            )
        out.append((e["name"], e["seed"], folder))
    return out


def _exported_model_config(folder: Path) -> dict[str, Any]:
    meta = folder / "asvnb_model.json"
    try:
        cfg = json.loads(meta.read_text(encoding="utf-8")).get("model_config") or {}
    except (OSError, json.JSONDecodeError):
        cfg = {}
    if "factory" not in cfg:
        raise DetectorCardError(
            f"{folder}: give model=model_config(factory, **kwargs): {meta.name} does not say "
            "how to rebuild the network"
        )
    return cfg


def read_card(folder: str | Path) -> DetectorCard:
    """The detector card of ``folder``, checked; :class:`DetectorCardError` names the file and what is wrong."""
    path = Path(folder) / DETECTOR_FILE
    if not path.is_file():
        raise DetectorCardError(
            f"{folder}: no {DETECTOR_FILE} (the study that trained this model did not "
            "describe it with asvnb.train.describe_detector)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DetectorCardError(f"{path}: unreadable detector card ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise DetectorCardError(f"{path}: not a version {VERSION} detector card")
    fields = {f.name for f in dataclasses.fields(DetectorCard)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise DetectorCardError(f"{path}: unknown fields {unknown}")
    try:
        return DetectorCard(**data)
    except (TypeError, DetectorCardError) as exc:
        raise DetectorCardError(f"{path}: {exc}") from None


def build_network(folder: str | Path, card: DetectorCard, map_location: str = "cpu") -> nn.Module:
    """The card's network with the folder's ``model.pt`` weights, in eval mode (not for transformers folders)."""
    folder = Path(folder)
    if card.model is None:
        raise DetectorCardError(f"{folder}: the card names no model factory")
    module, _, name = card.model["factory"].partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise DetectorCardError(
            f"{folder}: model factory {card.model['factory']!r} not found ({exc})"
        ) from None
    net = obj(**card.model.get("kwargs", {}))
    try:
        state = torch.load(folder / "model.pt", map_location=map_location, weights_only=True)
        net.load_state_dict(state)
    except (OSError, RuntimeError, ValueError) as exc:
        raise DetectorCardError(
            f"{folder}/model.pt: cannot load the weights into {card.model['factory']} "
            f"({str(exc).splitlines()[0]})"
        ) from None
    return net.eval()
