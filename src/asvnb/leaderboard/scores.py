"""The leaderboard's scores: registered detectors, trial sets, cached scores per detector and set, and cost."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from asvnb import audio, config, files
from asvnb.data import balanced_subset
from asvnb.data.asvspoof import LA2019, ASVScores, LA2021Eval
from asvnb.models.complexity import count_macs, count_params
from asvnb.provenance import code_key
from asvnb.scoring import Detector, load_detector
from asvnb.train.detector import DETECTOR_FILE, INDEX_FILE, read_detector_index

INPUT_RULE = (
    "each trial read from its flac at the detector's own sample rate, mono, and given to the detector as "
    "its study evaluated it (its card's clip rule: the first n seconds repeat-padded, the mean over "
    "consecutive segments, or the whole recording); the score is the network's log-odds of bona fide, "
    "read as a log-likelihood ratio without calibration"
)
MAC_SECONDS = 4.0  # a "whole recording" detector's MACs are counted on 4 s, about one LA utterance
BATCH_FILES = 256  # files read and scored together (memory stays small on the full eval sets)
BATCH_PIECES = 128  # pieces per forward pass: ResNetSE scores 3 times faster per item than in batches of 32 (measured)


@dataclass(frozen=True)
class Entry:
    """One registered detector: the study that trained it, its name there, its seed and its folder."""

    study: str
    name: str
    seed: int | None
    folder: Path

    @property
    def label(self) -> str:
        """``study · name`` (the seed is a column of its own)."""
        return f"{self.study[:2]} {self.name}"


@dataclass(frozen=True)
class TrialSet:
    """One evaluation set: utterance ids, audio paths, labels (1 bona fide), attacks and the organisers' ASV scores."""

    name: str
    utts: list[str]
    paths: list[Path]
    labels: np.ndarray
    systems: list[str]
    asv: ASVScores

    @property
    def key(self) -> str:
        """A hash of the trial list (ids and labels): scores cached for another list are never reused."""
        h = hashlib.sha256()
        for u, y in zip(self.utts, self.labels, strict=True):
            h.update(f"{u} {y}\n".encode())
        return h.hexdigest()[:16]


def registered(
    profile: str, runs_root: Path | None = None, seeds: Sequence[int] | None = None
) -> list[Entry]:
    """Every detector the studies of ``profile`` registered (``runs/<study>/<profile>/detectors.json``), by study."""
    config.check_profile(profile)
    runs_root = Path(runs_root or config.runs_root())
    out = []
    for index in sorted(runs_root.glob(f"*/{profile}/{INDEX_FILE}")):
        study = index.parent.parent.name
        for name, seed, folder in read_detector_index(index):
            if seeds is None or seed is None or seed in seeds:
                out.append(Entry(study, name, seed, folder))
    return out


def trial_sets(
    data_root: str | Path, la21_phase: str | None = "eval", max_trials: int | None = None
) -> dict[str, TrialSet]:
    """The embedded (or real) LA 2019 eval and LA 2021 eval trials, with their ASV scores for the t-DCF.

    ``max_trials``: a quick run on about that many trials per set: half bona fide, half spoofs drawn in turn
    from each attack.
    """
    la19 = LA2019(data_root, "eval")
    la21 = LA2021Eval(data_root, la21_phase)
    out = {}
    for name, ds, asv in (
        ("LA19 eval", la19, la19.asv_scores()),
        ("LA21 eval", la21, la21.asv_scores(la21_phase)),
    ):
        trials = ds.trials
        if max_trials is not None and max_trials < len(
            trials
        ):  # half bona fide, half spoofs over the attacks
            bona = [t for t in trials if t.is_bonafide]
            spoof = [t for t in trials if not t.is_bonafide]
            keep = {
                id(t)
                for t in balanced_subset(bona, max(max_trials // 2, 1), lambda t: t.speaker)
                + balanced_subset(spoof, max(max_trials - max_trials // 2, 1), lambda t: t.system)
            }
            trials = [t for t in trials if id(t) in keep]
        out[name] = TrialSet(
            name,
            [t.utt for t in trials],
            [ds.audio_path(t.utt) for t in trials],
            np.array([int(t.is_bonafide) for t in trials]),
            [t.system for t in trials],
            asv,
        )
    return out


def _weights_hash(folder: Path) -> str:
    """Hash of the weight files (model.pt, or a transformers folder's safetensors/bin) and the card."""
    h = hashlib.sha256()
    files = sorted(
        p for p in folder.iterdir() if p.suffix in (".pt", ".safetensors", ".bin", ".json")
    )
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class SetScores:
    """A detector's scores on one trial set, with the audio duration scored and the wall time it took."""

    scores: np.ndarray
    audio_seconds: float
    wall_seconds: float

    @property
    def speed(self) -> float:
        """Seconds of audio scored per second of wall time."""
        return self.audio_seconds / max(self.wall_seconds, 1e-9)


def score_sets(
    detectors: Sequence[Detector], trials: TrialSet, progress: bool = True
) -> list[SetScores]:
    """Every trial of ``trials`` scored by each detector, each file decoded once per sample rate the detectors need.

    A detector's wall time is its own scoring plus the reading (decoding,
    resampling) at its rate, which detectors of one rate share. A file that
    cannot be scored is an error naming it: a leaderboard with silently
    missing trials would compare systems on different sets.
    """
    from tqdm.auto import tqdm

    rates = sorted({d.card.sample_rate for d in detectors})
    scores: list[list[np.ndarray]] = [[] for _ in detectors]
    wall = np.zeros(len(detectors))
    seconds = 0.0
    bar = tqdm(
        total=len(trials.paths),
        desc=f"{len(detectors)} detector(s) on {trials.name}",
        unit="file",
        disable=not progress,
        leave=False,
    )
    for i in range(0, len(trials.paths), BATCH_FILES):
        paths = trials.paths[i : i + BATCH_FILES]
        names = [str(p) for p in paths]
        for rate in rates:
            t0 = time.perf_counter()
            wavs = [audio.load_audio(p, sr=rate) for p in paths]
            read = time.perf_counter() - t0
            if rate == rates[0]:
                seconds += sum(len(w) for w in wavs) / rate
            for k, det in enumerate(detectors):
                if det.card.sample_rate == rate:
                    t0 = time.perf_counter()
                    scores[k].append(det.score_waveforms(wavs, names, batch_size=BATCH_PIECES))
                    wall[k] += read + time.perf_counter() - t0
        bar.update(len(paths))
    bar.close()
    out = []
    for k, det in enumerate(detectors):
        x = np.concatenate(scores[k])
        if not np.isfinite(x).all():
            bad = trials.paths[int(np.flatnonzero(~np.isfinite(x))[0])]
            raise ValueError(f"{bad}: {det.source} gave a non-finite score")
        out.append(SetScores(x, seconds, float(wall[k])))
    return out


def _load_cached(cache: Path) -> SetScores:
    with np.load(cache) as z:
        return SetScores(z["scores"], float(z["audio_seconds"]), float(z["wall_seconds"]))


def _save_cached(cache: Path, ss: SetScores) -> None:
    with files.atomic_path(cache) as tmp:
        np.savez(
            tmp, scores=ss.scores, audio_seconds=ss.audio_seconds, wall_seconds=ss.wall_seconds
        )


def complexity(detector: Detector) -> tuple[int, int, str]:
    """Parameters, MACs of one forward (torch's counter) and what that forward reads."""
    card, net = detector.card, detector.network
    params = count_params(net)
    kind, clip = card.frontend["kind"], card.clip
    if kind == "spectrogram_image":
        s = card.frontend["model_size"]
        shape, what = (1, 3, s, s), f"one {s} px image"
    else:
        seconds = clip.get("seconds", MAC_SECONDS)
        shape, what = (
            (1, round(seconds * card.sample_rate)),
            f"{seconds:g} s at {card.sample_rate // 1000} kHz",
        )
    if kind == "transformers":
        macs = _transformers_macs(net, shape)
    else:
        macs = count_macs(net, shape, counter="torch")
    return params, macs, what


def _transformers_macs(net: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """A transformers classifier's MACs: it takes ``input_values=`` (count_macs calls ``net(x)`` positionally)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net(input_values=torch.zeros(shape, device=next(net.parameters()).device))
    return counter.get_total_flops() // 2


@dataclass
class Scored:
    """A detector's scores on every set and its complexity."""

    entry: Entry
    sets: dict[str, SetScores]
    params: int
    macs: int
    macs_of: str


def score_all(
    entries: Sequence[Entry],
    sets: dict[str, TrialSet],
    cache_dir: Path,
    device: str = "cpu",
    progress: bool = True,
) -> list[Scored]:
    """Every entry scored on every set; scores are cached under ``cache_dir`` by weights, trial list and the
    scoring code (this module and what it imports: the detectors' loaders and front ends)."""
    dets = [load_detector(e.folder, device) for e in entries]
    code = code_key(__name__)
    keys = [
        f"{e.study}-{e.name}-seed{e.seed}-{_weights_hash(e.folder)}-{code}".replace(" ", "_")
        for e in entries
    ]
    got: dict[tuple[int, str], SetScores] = {}
    for name, ts in sets.items():
        caches = [cache_dir / f"{k}-{ts.key}.npz" for k in keys]
        todo = [i for i, c in enumerate(caches) if not c.is_file()]
        for i, c in enumerate(caches):
            if i not in todo:
                got[i, name] = _load_cached(c)
        if todo:
            for i, ss in zip(todo, score_sets([dets[i] for i in todo], ts, progress), strict=True):
                _save_cached(caches[i], ss)
                got[i, name] = ss
    out = []
    for i, (e, det) in enumerate(zip(entries, dets, strict=True)):
        params, macs, what = complexity(det)
        out.append(Scored(e, {name: got[i, name] for name in sets}, params, macs, what))
    return out


def card_path(entry: Entry) -> Path:
    """The card a leaderboard row was scored with."""
    return entry.folder / DETECTOR_FILE


def card_summary(entries: Sequence[Entry]) -> pd.DataFrame:
    """Per detector: rate, front end, clip rule and the stored threshold, read from its card (the input rule made concrete)."""
    seen, rows = set(), []
    for e in entries:
        if (e.study, e.name) in seen:
            continue
        seen.add((e.study, e.name))
        card = json.loads(card_path(e).read_text(encoding="utf-8"))
        clip = card["clip"]
        rows.append(
            {
                "study": e.study[:2],
                "system": e.name,
                "rate (Hz)": card["sample_rate"],
                "front end": card["frontend"]["kind"].replace("_", " "),
                "clip": clip["mode"].replace("_", " ")
                + (f" {clip['seconds']:g} s" if "seconds" in clip else ""),
                "dev threshold from": (card.get("threshold") or {}).get("data", "none"),
            }
        )
    return pd.DataFrame(rows)
