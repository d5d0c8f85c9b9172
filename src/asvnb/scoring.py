"""``asvnb score``: any detector the book trained, or a hub WavLM detector, on your own audio files.

A detector is loaded from (see :func:`load_detector`):

- a folder that holds ``asvnb_detector.json`` (written by
  :func:`asvnb.train.describe_detector` beside the weights: the trainer's
  ``best`` folder, or a transformers folder), or a run folder whose ``best``
  subfolder holds one;
- a transformers folder without a card (the WavLM stand-in under
  ``data/models/``, study 02's fine-tuned ``best``): the WavLM detector's
  conventions (16 kHz, whole recordings, logit 0 bona fide), no threshold;
- a Hugging Face hub id (the full profile's
  ``abhishtagatya/wavlm-base-960h-asv19-deepfake``), through the loader study
  02 uses (:func:`asvnb.models.wavlm.load_detector`); no threshold.

Every file is read with :func:`asvnb.audio.load_audio` at the detector's rate
and scored on its own: the score is the log-odds of bona fide against the other
classes (higher = more bona fide), and the decision is ``bonafide`` when the
score is above the threshold, ``spoof`` at or below it (the official DET
counts a trial scoring exactly at the threshold as rejected, so the dev EER
threshold reproduces the dev EER point). A file that cannot be scored
(unreadable, empty, truncated, NaN/inf samples, shorter than one analysis
window of the detector) is reported with its reason; the others are scored.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers.utils import logging as hf_logging

from asvnb import audio, config, metrics
from asvnb.features import SpecgramImage
from asvnb.models import wavlm
from asvnb.train.classify import Predictions
from asvnb.train.detector import (
    DETECTOR_FILE,
    DetectorCard,
    DetectorCardError,
    build_network,
    read_card,
    whole,
)

# file suffixes looked for inside folders (files named on the command line are always tried)
AUDIO_SUFFIXES = frozenset(
    {
        ".wav",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aif",
        ".aiff",
        ".aifc",
        ".au",
        ".snd",
        ".caf",
        ".w64",
        ".rf64",
        ".wv",
        ".voc",
        ".sph",
        ".nist",
    }
)
PROGRESS_MIN = 20  # a progress bar from this many files on
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ScoringError(RuntimeError):
    """The detector cannot be loaded or used (not a file-level problem: nothing is scored)."""


@dataclass
class Detector:
    """A loaded detector: its card, its network (and feature extractor), where it came from."""

    source: str
    card: DetectorCard
    network: nn.Module
    feature_extractor: Any = None
    device: str = "cpu"

    @property
    def threshold(self) -> float | None:
        """The stored decision threshold (the dev EER threshold), or None."""
        return None if self.card.threshold is None else float(self.card.threshold["value"])

    def describe_threshold(self) -> str:
        """Where the stored threshold comes from, in words."""
        t = self.card.threshold
        if t is None:
            return "none stored"
        eer = f", EER {100 * t['eer']:.2f}%" if t.get("eer") is not None else ""
        return f"{t['value']:.6g} ({t.get('rule', 'dev EER')}{' on ' + t['data'] if t.get('data') else ''}{eer})"

    @property
    def min_samples(self) -> int:
        """The shortest recording scored: one analysis window of the detector (shorter carries nothing to judge)."""
        kind = self.card.frontend["kind"]
        if kind == "spectrogram_image":
            return int(self.card.frontend["nfft"])
        if kind == "transformers":
            cfg = getattr(self.network, "config", None)
            return wavlm.min_samples(cfg) if hasattr(cfg, "conv_kernel") else 1
        frontend = getattr(self.network, "frontend", None)
        return int(getattr(frontend, "min_samples", 1) or 1)

    # ------------------------------------------------------------------ recordings
    def score_waveform(self, wav: np.ndarray, where: str = "waveform") -> float:
        """The CM score of one mono waveform at the card's rate (ValueError if too short or not finite)."""
        return float(self.score_waveforms([wav], [where])[0])

    def pieces(self, wav: np.ndarray, where: str = "waveform") -> list[np.ndarray]:
        """What the network reads of one waveform under the card's clip rule, checked (ValueError if unusable)."""
        wav = np.asarray(wav, dtype=np.float32)
        sr = self.card.sample_rate
        if wav.ndim != 1:
            raise ValueError(f"{where}: expected a mono waveform, got shape {wav.shape}")
        if not np.isfinite(wav).all():
            first = int(np.flatnonzero(~np.isfinite(wav))[0])
            raise ValueError(f"{where}: NaN or inf sample at {first} ({first / sr:.3f} s)")
        need = self.min_samples
        if wav.size < need:
            raise ValueError(
                f"{where}: too short: {wav.size} samples ({1000 * wav.size / sr:.1f} ms) at {sr} Hz; "
                f"this detector needs at least {need} ({1000 * need / sr:.1f} ms, one analysis window)"
            )
        clip = self.card.clip
        if clip["mode"] == "whole":
            return [wav]
        n = round(clip["seconds"] * sr)
        if clip["mode"] == "crop_or_pad":
            return [audio.crop_or_pad(wav, n)]
        # segments: the last, shorter piece is kept when it is at least one window long, repeat-padded to the
        # full length when the card says so (a spectrogram image of a fixed duration keeps its time scale)
        pieces = [p for p in audio.segment(wav, n, drop_last=False) if p.size >= need] or [wav]
        if clip.get("pad_last"):
            pieces = [audio.crop_or_pad(p, n) for p in pieces]
        return pieces

    @torch.no_grad()
    def score_waveforms(
        self, wavs: Sequence[np.ndarray], where: Sequence[str] | None = None, batch_size: int = 32
    ) -> np.ndarray:
        """CM scores of many mono waveforms, each scored as :meth:`score_waveform` would, pieces of equal length batched.

        Batching changes nothing but speed: every piece is scored on its own
        (the networks are in eval mode, no padding is added), and a file's
        score is the mean over its pieces.
        """
        where = list(where) if where is not None else [f"waveform {i}" for i in range(len(wavs))]
        owner: list[int] = []
        pieces: list[np.ndarray] = []
        for i, (w, name) in enumerate(zip(wavs, where, strict=True)):
            ps = self.pieces(w, name)
            pieces += ps
            owner += [i] * len(ps)
        scores = np.empty(len(pieces))
        by_len: dict[int, list[int]] = {}
        for j, p in enumerate(pieces):
            by_len.setdefault(p.size, []).append(j)
        for idx in by_len.values():
            for k in range(0, len(idx), batch_size):
                chunk = idx[k : k + batch_size]
                scores[chunk] = self._score_batch([pieces[j] for j in chunk])
        owner_a = np.asarray(owner)
        return np.array([scores[owner_a == i].mean() for i in range(len(wavs))])

    def _score_batch(self, wavs: list[np.ndarray]) -> np.ndarray:
        """Scores of equal-length waveforms."""
        kind = self.card.frontend["kind"]
        if kind == "transformers":
            with (
                warnings.catch_warnings()
            ):  # torch's notice about WavLM's mask types, once per file otherwise
                warnings.filterwarnings("ignore", message="Support for mismatched key_padding_mask")
                logits = wavlm.predict_logits(
                    self.feature_extractor, self.network, wavs, batch_size=len(wavs)
                )
        else:
            x = torch.from_numpy(np.ascontiguousarray(np.stack(wavs))).to(self.device)
            if kind == "spectrogram_image":
                x = self._image(x)
            logits = self.network(x).float().cpu().numpy()
        return Predictions(np.asarray(logits), np.zeros(len(logits), dtype=int)).scores(
            self.card.bonafide_class
        )

    def _image(self, wav: torch.Tensor) -> torch.Tensor:
        f = self.card.frontend
        if not hasattr(self, "_imager"):
            self._imager = SpecgramImage(
                self.card.sample_rate, f["nfft"], f["noverlap"], f["size"]
            ).to(self.device)
        img = self._imager(wav, torch.uint8)  # 8-bit pixels, as the studies keep their images
        if f["model_size"] != f["size"]:  # as ImageSet.resized: scaled, rounded back to 8 bits
            img = (
                torch.nn.functional.interpolate(
                    img.float(),
                    size=(f["model_size"],) * 2,
                    mode="bilinear",
                    antialias=True,
                    align_corners=False,
                )
                .round()
                .clamp(0, 255)
            )
        return img.float() / 255.0


# ----------------------------------------------------------------------------- loading


def load_detector(source: str | Path, device: str = "auto") -> Detector:
    """A detector from a described folder, a run folder, a transformers folder or a hub id (see the module)."""
    device = config.resolve_device(device)
    path = Path(source)
    if path.is_dir():
        folder = _card_folder(path)
        if folder is not None:
            try:
                card = read_card(folder)
                if card.frontend["kind"] == "transformers":
                    fe, net = _transformers(folder, device)
                    return Detector(str(source), card, net, fe, device)
                return Detector(
                    str(source), card, build_network(folder, card, device).to(device), device=device
                )
            except DetectorCardError as exc:
                raise ScoringError(str(exc)) from None
        for cand in (
            path,
            path / "best",
        ):  # a transformers folder, or a trainer run that exported one
            if (cand / "config.json").is_file():
                fe, net = _transformers(cand, device)
                return Detector(str(source), _wavlm_card(str(source)), net, fe, device)
        if (
            (path / "best").is_dir()
            or (path / "asvnb_model.json").is_file()
            or (path / "model.pt").is_file()
        ):
            raise ScoringError(
                f"{source}: a training run, but it does not describe its detector (no "
                f"{DETECTOR_FILE}): the study that trained it must save one with "
                "asvnb.train.describe_detector (front end, sample rate, bona fide class, dev threshold)"
            )
        raise ScoringError(
            f"{source}: not a detector folder (no {DETECTOR_FILE}, no best/{DETECTOR_FILE}, "
            "no transformers config.json)"
        )
    if path.exists():
        raise ScoringError(f"{source}: a file, not a model folder or hub id")
    if HUB_ID.match(str(source)) and not str(source).startswith((".", "/")):
        try:
            fe, net = _transformers(str(source), device)
        except (OSError, ValueError) as exc:
            raise ScoringError(
                f"{source}: no such folder, and loading it from the Hugging Face hub failed "
                f"({str(exc).splitlines()[0]}); the hub needs network access (full profile)"
            ) from None
        return Detector(str(source), _wavlm_card(str(source)), net, fe, device)
    raise ScoringError(
        f"{source}: no such model folder (give a run folder under build/runs/, a detector folder or "
        "a hub id such as abhishtagatya/wavlm-base-960h-asv19-deepfake)"
    )


def _card_folder(path: Path) -> Path | None:
    for cand in (path, path / "best"):
        if (cand / DETECTOR_FILE).is_file():
            return cand
    return None


def _transformers(source: str | Path, device: str) -> tuple[Any, nn.Module]:
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a "Loading weights" bar per model says nothing here
    try:
        return wavlm.load_detector(source, device=device)
    finally:
        if bar:
            hf_logging.enable_progress_bar()


def _wavlm_card(name: str) -> DetectorCard:
    """The WavLM detector's conventions (study 02): 16 kHz, whole recordings, logit 0 bona fide; no threshold."""

    return DetectorCard(
        sample_rate=wavlm.SR,
        frontend={"kind": "transformers"},
        clip=whole(),
        bonafide_class=wavlm.BONAFIDE,
        name=name,
    )


# ----------------------------------------------------------------------------- files


@dataclass
class Item:
    """One file to score: its path, its ID in the score file, and what came of it."""

    path: Path
    utt: str
    score: float | None = None
    decision: str | None = None
    error: str | None = None


def utt_id(path: str | Path) -> str:
    """The score file's ID of a path: the path, with whitespace and ``%`` percent-encoded (``urllib.parse.unquote``
    gives the path back); score-file fields cannot hold spaces."""
    return re.sub(r"[%\s]", lambda m: quote(m.group(), safe=""), str(path))


def collect(paths: Iterable[str | Path]) -> list[Item]:
    """The files to score: files as given, folders searched recursively for audio suffixes (sorted), each file once.

    A path that does not exist, or a folder with no audio file, becomes an item
    that failed with that reason (so it is reported like a bad file).
    """
    items, seen = [], set()

    def add(p: Path, error: str | None = None) -> None:
        key = p.resolve() if error is None else ("missing", str(p))
        if key in seen:
            return
        seen.add(key)
        items.append(Item(p, utt_id(p), error=error))

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                (f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES),
                key=lambda f: f.as_posix(),
            )
            if not found:
                add(
                    p,
                    f"no audio files in this folder (looked for {', '.join(sorted(AUDIO_SUFFIXES))})",
                )
            for f in found:
                add(f)
        elif p.is_file():
            add(p)
        else:
            add(p, "no such file or folder")
    return items


def score_items(
    detector: Detector,
    items: Sequence[Item],
    threshold: float,
    progress: bool | None = None,
    report: TextIO | None = None,
) -> list[Item]:
    """Score every item that has no error yet, in place: score and decision, or the reason it could not be scored.

    ``progress`` None shows a bar from :data:`PROGRESS_MIN` files on when
    writing to a terminal. Each failure is written to ``report`` (default: standard error) as it happens.
    """
    report = report or sys.stderr

    def fail(it: Item, reason: str) -> None:
        it.error = reason
        tqdm.write(f"asvnb score: {it.path}: {reason}", file=report)

    for it in items:
        if it.error:
            fail(it, it.error)
    todo = [it for it in items if it.error is None]
    disable = (
        (not progress) if progress is not None else (True if len(todo) < PROGRESS_MIN else None)
    )
    for it in tqdm(todo, desc="scoring", unit="file", disable=disable, file=sys.stderr):
        try:
            wav = audio.load_audio(it.path, sr=detector.card.sample_rate)
            s = detector.score_waveform(wav, str(it.path))
        except (
            ValueError
        ) as exc:  # AudioError (unreadable, empty, truncated, NaN) and the feature/model checks
            fail(it, _reason(exc, it.path))
            continue
        if not np.isfinite(s):
            fail(it, f"the detector gave a non-finite score ({s})")
            continue
        it.score, it.decision = s, ("bonafide" if s > threshold else "spoof")
    return list(items)


def _reason(exc: Exception, path: Path) -> str:
    """The error's message without the path it starts with (the report puts the path first)."""
    msg = str(exc)
    for prefix in (f"{path}: ", f"{path}:"):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def write_results(
    items: Sequence[Item], out: str | Path | None, stream: TextIO | None = None
) -> int:
    """Write the scored items as ``UTT SCORE DECISION`` to ``out`` (atomically) or to ``stream``; returns the count."""
    ok = [it for it in items if it.error is None]
    if not ok:
        return 0
    ids, scores, decisions = (
        [it.utt for it in ok],
        [it.score for it in ok],
        [it.decision for it in ok],
    )
    if out is not None:
        metrics.write_decisions(out, ids, scores, decisions)
    else:
        stream = stream or sys.stdout
        stream.writelines(metrics.decision_lines(ids, scores, decisions, "stdout"))
        stream.flush()
    return len(ok)


def resolve_threshold(detector: Detector, threshold: str | float) -> float:
    """The threshold to decide at: a number as given, or the detector's stored dev EER threshold (ScoringError if none)."""
    if threshold != "dev-eer":
        return float(threshold)
    if detector.threshold is None:
        raise ScoringError(
            f"{detector.source}: no dev EER threshold is stored with this model; pass "
            "--threshold VALUE (a score above VALUE is called bona fide; for a classifier's log-odds, "
            "0 is the arg-max decision)"
        )
    return detector.threshold


def score_paths(
    paths: Sequence[str | Path],
    model: str | Path,
    threshold: str | float = "dev-eer",
    out: str | Path | None = None,
    device: str = "auto",
    progress: bool | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The whole command: load, collect, score, write, summarise; exit code 0, or 1 if any file failed.

    A detector that cannot be loaded, or no stored threshold with ``dev-eer``,
    raises :class:`ScoringError` before any file is read.
    """
    stderr = stderr or sys.stderr
    detector = load_detector(model, device)
    thr = resolve_threshold(detector, threshold)
    items = score_items(detector, collect(paths), thr, progress, stderr)
    n = write_results(items, out, stdout)
    failed = [it for it in items if it.error]
    where = f" -> {out}" if out is not None and n else ""
    rule = (
        "dev EER threshold " + detector.describe_threshold()
        if threshold == "dev-eer"
        else f"threshold {thr:.6g}"
    )
    print(
        f"asvnb score: {n} of {len(items)} file(s) scored with {detector.source}, decision at {rule}{where}"
        + (f"; {len(failed)} failed (listed above)" if failed else ""),
        file=stderr,
    )
    if out is not None and not n:
        print(f"asvnb score: nothing scored, {out} not written", file=stderr)
    return 1 if failed else 0
