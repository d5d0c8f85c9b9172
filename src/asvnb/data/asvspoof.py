"""ASVspoof 2019 LA and 2021 LA: CM and ASV protocols, keys, ASV scores, and a CM Dataset.

Layouts (docs/LAYOUTS.md) are those of the official downloads:
``LA/ASVspoof2019_LA_{train,dev,eval}/flac`` with ``ASVspoof2019_LA_cm_protocols``,
``ASVspoof2019_LA_asv_protocols`` and ``ASVspoof2019_LA_asv_scores``; and
``ASVspoof2021_LA_eval/flac`` with the keys of ``LA-keys-stage-1`` (``keys/CM``,
``keys/ASV``) or ``LA-keys-full`` (``keys/LA/CM``, ``keys/LA/ASV``).

Label convention of :class:`CMDataset`: ``bonafide_label`` (default 1) for bona
fide and ``1 - bonafide_label`` for spoof, so that a model's bona fide logit is
the CM score (higher = more bona fide, as in ASVspoof). Studies differ: study
01 uses genuine 0 / spoof 1 (``bonafide_label=0``), study 04 real 1 / fake 0.
Multi-class studies pass ``class_of`` (system -> class index) instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from asvnb.data import ProtocolError, WaveformDataset, read_fields, require

BONAFIDE, SPOOF = "bonafide", "spoof"
CM_KEYS = (BONAFIDE, SPOOF)
ASV_KEYS = ("target", "nontarget", "spoof")
SPLITS = {
    "train": ("T", "ASVspoof2019.LA.cm.train.trn.txt"),
    "dev": ("D", "ASVspoof2019.LA.cm.dev.trl.txt"),
    "eval": ("E", "ASVspoof2019.LA.cm.eval.trl.txt"),
}
PHASES = (
    "progress",
    "eval",
    "hidden_track",
)  # the 2021 keys' PHASE column, as the official evaluate.py reads it


@dataclass(frozen=True)
class CMTrial:
    """One CM trial: ``system`` is the attack ID (A01..A19) or ``bonafide``; ``key`` is bonafide/spoof."""

    speaker: str
    utt: str
    system: str
    key: str

    @property
    def is_bonafide(self) -> bool:
        """True for bona fide speech."""
        return self.key == BONAFIDE


@dataclass(frozen=True)
class LA2021Trial(CMTrial):
    """A 2021 LA CM trial with its channel metadata (codec, transmission), trim flag and phase."""

    codec: str = ""
    transmission: str = ""
    trim: str = ""
    phase: str = ""


@dataclass(frozen=True)
class ASVTrial:
    """One ASV trial: claimed ``speaker``, test ``utt``, ``system`` (bonafide or attack), key target/nontarget/spoof."""

    speaker: str
    utt: str
    system: str
    key: str
    phase: str = ""


@dataclass
class ASVScores:
    """ASV scores split by trial key, as the t-DCF needs them; ``frame`` keeps every row."""

    target: np.ndarray
    nontarget: np.ndarray
    spoof: np.ndarray
    frame: pd.DataFrame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> ASVScores:
        """Split a frame with ``key`` and ``score`` columns."""
        pick = lambda k: frame.loc[frame["key"] == k, "score"].to_numpy(dtype=np.float64)  # noqa: E731
        return cls(pick("target"), pick("nontarget"), pick("spoof"), frame.reset_index(drop=True))


def _key(path: Path, i: int, key: str, allowed: tuple[str, ...], line: str) -> str:
    if key not in allowed:
        raise ProtocolError(path, i, f"key {key!r} is not one of {', '.join(allowed)}", line)
    return key


def _system(path: Path, i: int, system: str, key: str, line: str) -> str:
    # 2019 protocols write '-' as the system of bona fide trials, the 2021 keys
    # write 'bonafide'; both become 'bonafide' so attacks can be grouped by system.
    if key == BONAFIDE:
        if system not in ("-", BONAFIDE):
            raise ProtocolError(path, i, f"bona fide trial with attack system {system!r}", line)
        return BONAFIDE
    if system in ("-", BONAFIDE):
        raise ProtocolError(path, i, "spoof trial without an attack system", line)
    return system


def check_phase(phase: str | None) -> str | None:
    """A 2021 LA phase name or None (every phase); an unknown one (a typo) is an error listing the valid ones."""
    if phase is not None and phase not in PHASES:
        raise ValueError(
            f"unknown ASVspoof 2021 LA phase {phase!r}; valid: {', '.join(PHASES)} (or None: all)"
        )
    return phase


def _phase(path: Path, i: int, phase: str, line: str) -> str:
    # a phase outside the three would be dropped by every phase filter without a word
    if phase not in PHASES:
        raise ProtocolError(path, i, f"phase {phase!r} is not one of {', '.join(PHASES)}", line)
    return phase


def _once(path: Path, i: int, utt: str, seen: dict[str, int], line: str) -> None:
    if utt in seen:
        raise ProtocolError(
            path, i, f"utterance {utt} listed twice (first on line {seen[utt]})", line
        )
    seen[utt] = i


def read_cm_protocol(path: str | Path) -> list[CMTrial]:
    """Read a 2019 LA CM protocol: lines ``SPEAKER UTT - SYSTEM KEY``."""
    path = Path(path)
    out, seen = [], {}
    for i, (spk, utt, dash, system, key), line in read_fields(path, 5):
        _once(path, i, utt, seen, line)
        if dash != "-":
            raise ProtocolError(path, i, f"third field should be '-', found {dash!r}", line)
        key = _key(path, i, key, CM_KEYS, line)
        out.append(CMTrial(spk, utt, _system(path, i, system, key, line), key))
    _not_empty(path, seen)
    return out


def _not_empty(path: Path, seen: dict[str, int]) -> None:
    """A protocol with no trial (empty, or blank lines only) is an error, not a split of 0 trials."""
    if not seen:
        raise ProtocolError(path, None, "no trial: the file is empty or holds only blank lines")


def read_la2021_cm_metadata(path: str | Path, phase: str | None = None) -> list[LA2021Trial]:
    """Read 2021 LA CM keys: ``SPEAKER UTT CODEC TRANSMISSION ATTACK KEY TRIM PHASE``; ``phase`` filters."""
    path, phase = Path(path), check_phase(phase)
    out, seen = [], {}
    for i, (spk, utt, codec, trans, system, key, trim, ph), line in read_fields(path, 8):
        _once(path, i, utt, seen, line)
        key, ph = _key(path, i, key, CM_KEYS, line), _phase(path, i, ph, line)
        if phase is None or ph == phase:
            out.append(
                LA2021Trial(
                    spk, utt, _system(path, i, system, key, line), key, codec, trans, trim, ph
                )
            )
    _not_empty(path, seen)
    return out


def read_trial_list(path: str | Path) -> list[str]:
    """Read a list of utterance IDs, one a line (``ASVspoof2021.LA.cm.eval.trl.txt``)."""
    return [f[0] for _, f, _ in read_fields(path, 1)]


def read_asv_enrolment(path: str | Path) -> dict[str, list[str]]:
    """Read a 2019 ASV enrolment list: ``SPEAKER UTT1,UTT2,...``."""
    path = Path(path)
    out: dict[str, list[str]] = {}
    for i, (spk, utts), line in read_fields(path, 2):
        if spk in out:
            raise ProtocolError(path, i, f"speaker {spk} enrolled twice", line)
        out[spk] = [u for u in utts.split(",") if u]
    return out


def read_asv_trials(path: str | Path) -> list[ASVTrial]:
    """Read 2019 ASV trials: ``SPEAKER UTT SYSTEM KEY``, KEY target/nontarget/spoof."""
    path = Path(path)
    return [
        ASVTrial(spk, utt, system, _key(path, i, key, ASV_KEYS, line))
        for i, (spk, utt, system, key), line in read_fields(path, 4)
    ]


def _float(path: Path, i: int, s: str, line: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise ProtocolError(path, i, f"score {s!r} is not a number", line) from None
    if not np.isfinite(v):
        raise ProtocolError(path, i, f"score {s!r} is not finite", line)
    return v


def read_asv_scores(path: str | Path) -> ASVScores:
    """Read 2019 ASV scores: ``SYSTEM KEY SCORE`` (e.g. ``bonafide target 2.31``, ``A07 spoof -0.4``)."""
    path = Path(path)
    require("asvspoof2019_la", path, "ASV score file")
    rows = [
        (system, _key(path, i, key, ASV_KEYS, line), _float(path, i, score, line))
        for i, (system, key, score), line in read_fields(path, 3)
    ]
    return ASVScores.from_frame(pd.DataFrame(rows, columns=["system", "key", "score"]))


def read_la2021_asv_metadata(path: str | Path, phase: str | None = None) -> list[ASVTrial]:
    """Read 2021 LA ASV keys: ``SPEAKER UTT CODEC TRANSMISSION ATTACK KEY TRIM PHASE``, KEY target/nontarget/spoof."""
    path, phase = Path(path), check_phase(phase)
    out = []
    for i, (spk, utt, _c, _t, system, key, _trim, ph), line in read_fields(path, 8):
        key, ph = _key(path, i, key, ASV_KEYS, line), _phase(path, i, ph, line)
        if phase is None or ph == phase:
            out.append(ASVTrial(spk, utt, system, key, ph))
    return out


def read_la2021_asv_scores(
    metadata: str | Path, scores: str | Path, phase: str | None = "eval"
) -> ASVScores:
    """Join the organisers' 2021 ASV scores (``SPEAKER UTT SCORE``) to their keys on (speaker, utt).

    Every key row of ``phase`` must have exactly one score and every score row
    a key row (of any phase): a trial without a score, or a score without a key,
    is an error naming the file (and the line of the score).
    """
    scores, phase = Path(scores), check_phase(phase)
    table: dict[tuple[str, str], float] = {}
    where: dict[tuple[str, str], tuple[int, str]] = {}
    for i, (spk, utt, s), line in read_fields(scores, 3):
        if (spk, utt) in table:
            raise ProtocolError(scores, i, f"trial ({spk}, {utt}) scored twice", line)
        table[(spk, utt)], where[(spk, utt)] = _float(scores, i, s, line), (i, line)
    keyed = read_la2021_asv_metadata(metadata, None)
    known = {(t.speaker, t.utt) for t in keyed}
    unkeyed = [k for k in table if k not in known]
    if unkeyed:  # a score of a trial no key row names (of any phase): another release's file, or keys cut short
        i, line = where[unkeyed[0]]
        raise ProtocolError(
            scores, i, f"{len(unkeyed)} scored trial(s) have no key in {metadata}; the first", line
        )
    rows = []
    for t in keyed:
        if phase is None or t.phase == phase:
            if (t.speaker, t.utt) not in table:
                raise ProtocolError(
                    scores, None, f"no score for ASV trial ({t.speaker}, {t.utt}) of {metadata}"
                )
            rows.append((t.speaker, t.utt, t.system, t.key, t.phase, table[(t.speaker, t.utt)]))
    return ASVScores.from_frame(
        pd.DataFrame(rows, columns=["speaker", "utt", "system", "key", "phase", "score"])
    )


class CMDataset(WaveformDataset):
    """``(waveform, label, utt)`` for CM trials read from ``audio_dir/<utt><ext>``.

    ``n_samples`` defaults to 64,600 (about 4 s at 16 kHz, the AASIST input);
    shorter files are repeat-padded, longer ones cropped (at random when
    ``random_crop``). See the module docstring for the label convention.
    """

    def __init__(
        self,
        trials: list[CMTrial],
        audio_dir: str | Path,
        sr: int = 16000,
        n_samples: int | None = 64600,
        bonafide_label: int = 1,
        class_of: Mapping[str, int] | None = None,
        random_crop: bool = False,
        seed: int = 0,
        augment=None,
        ext: str = ".flac",
    ):
        if bonafide_label not in (0, 1):
            raise ValueError(f"bonafide_label must be 0 or 1, got {bonafide_label}")
        self.trials, self.audio_dir = list(trials), Path(audio_dir)
        items = []
        for t in self.trials:
            if class_of is not None:
                if t.system not in class_of:
                    raise ValueError(
                        f"{t.utt}: system {t.system!r} has no class in class_of "
                        f"({', '.join(sorted(class_of))})"
                    )
                label = class_of[t.system]
            else:
                label = bonafide_label if t.is_bonafide else 1 - bonafide_label
            items.append((self.audio_dir / f"{t.utt}{ext}", label, t.utt))
        super().__init__(
            items, sr=sr, n_samples=n_samples, random_crop=random_crop, seed=seed, augment=augment
        )


def _la_root(root: str | Path) -> Path:
    """The ``LA`` folder: ``root/LA``, or ``root`` itself when it already is that folder."""
    root = Path(root).expanduser()
    if (root / "LA").is_dir():
        return root / "LA"
    if (root / "ASVspoof2019_LA_cm_protocols").is_dir():
        return root
    return require("asvspoof2019_la", root / "LA")


class _FlacTrials:
    """What both LA releases share: trials whose audio is ``<audio_dir>/<utt>.flac``."""

    trials: list
    audio_dir: Path

    def __len__(self) -> int:
        return len(self.trials)

    def audio_path(self, utt: str) -> Path:
        """The flac file of an utterance."""
        return self.audio_dir / f"{utt}.flac"

    def dataset(self, **kwargs) -> CMDataset:
        """A :class:`CMDataset` over the trials (keyword arguments as in CMDataset)."""
        return CMDataset(self.trials, self.audio_dir, **kwargs)


class LA2019(_FlacTrials):
    """ASVspoof 2019 LA, one split (train/dev/eval): CM trials, audio paths, ASV protocols and scores."""

    def __init__(self, root: str | Path, split: str):
        if split not in SPLITS:
            raise ValueError(
                f"unknown ASVspoof 2019 LA split {split!r}; valid: {', '.join(SPLITS)}"
            )
        self.split, self.root = split, _la_root(root)
        letter, name = SPLITS[split]
        self.protocol_path = require(
            "asvspoof2019_la", self.root / "ASVspoof2019_LA_cm_protocols" / name, "CM protocol"
        )
        self.audio_dir = require(
            "asvspoof2019_la", self.root / f"ASVspoof2019_LA_{split}" / "flac", "audio folder"
        )
        self.trials = read_cm_protocol(self.protocol_path)
        for n, t in enumerate(self.trials, start=1):
            # a protocol of another split would silently point at missing files
            if not t.utt.startswith(f"LA_{letter}_"):
                raise ProtocolError(
                    self.protocol_path,
                    n,
                    f"utterance {t.utt} is not of the {split} split (expected prefix LA_{letter}_)",
                )

    def _asv_split(self) -> str:
        if self.split == "train":
            raise ValueError(
                "ASVspoof 2019 LA has ASV protocols and scores for dev and eval only, not train"
            )
        return self.split

    def asv_enrolment(self) -> dict[str, list[str]]:
        """Enrolment utterances of each speaker (female and male lists merged)."""
        d = self.root / "ASVspoof2019_LA_asv_protocols"
        out: dict[str, list[str]] = {}
        for g in ("female", "male"):
            out.update(
                read_asv_enrolment(
                    require(
                        "asvspoof2019_la",
                        d / f"ASVspoof2019.LA.asv.{self._asv_split()}.{g}.trn.txt",
                        "ASV enrolment list",
                    )
                )
            )
        return out

    def asv_trials(self) -> list[ASVTrial]:
        """Gender-independent ASV trials of this split."""
        p = (
            self.root
            / "ASVspoof2019_LA_asv_protocols"
            / f"ASVspoof2019.LA.asv.{self._asv_split()}.gi.trl.txt"
        )
        return read_asv_trials(require("asvspoof2019_la", p, "ASV trial list"))

    def asv_scores(self) -> ASVScores:
        """The organisers' ASV scores of this split (for the t-DCF)."""
        p = (
            self.root
            / "ASVspoof2019_LA_asv_scores"
            / f"ASVspoof2019.LA.asv.{self._asv_split()}.gi.trl.scores.txt"
        )
        return read_asv_scores(p)


def _keys_dir(root: Path) -> Path:
    """The folder holding ``CM/`` and ``ASV/`` of the 2021 LA keys (stage-1 or full release)."""
    candidates = [
        root / "LA-keys-stage-1" / "keys",
        root / "LA-keys-full" / "keys" / "LA",
        root / "keys" / "LA",
        root / "keys",
    ]
    for c in candidates:
        if (c / "CM" / "trial_metadata.txt").is_file():
            return c
    return require(
        "asvspoof2021_la",
        candidates[0] / "CM" / "trial_metadata.txt",
        "CM key file (trial_metadata.txt)",
    )


class LA2021Eval(_FlacTrials):
    """ASVspoof 2021 LA eval: CM keys with codec/attack/phase, audio paths, ASV keys and organiser ASV scores."""

    def __init__(self, root: str | Path, phase: str | None = None):
        check_phase(phase)  # before any file is read: a typo is not a missing dataset
        self.root = Path(root).expanduser()
        self.eval_dir = require("asvspoof2021_la", self.root / "ASVspoof2021_LA_eval")
        self.audio_dir = require("asvspoof2021_la", self.eval_dir / "flac", "audio folder")
        self.trial_list_path = require(
            "asvspoof2021_la", self.eval_dir / "ASVspoof2021.LA.cm.eval.trl.txt", "trial list"
        )
        self.keys_dir = _keys_dir(self.root)
        self.metadata_path = self.keys_dir / "CM" / "trial_metadata.txt"
        self.trials = read_la2021_cm_metadata(self.metadata_path, phase)
        listed = set(read_trial_list(self.trial_list_path))
        unlisted = [t.utt for t in self.trials if t.utt not in listed]
        if unlisted:
            raise ProtocolError(
                self.metadata_path,
                None,
                f"{len(unlisted)} keyed trials are not in "
                f"{self.trial_list_path} (first: {', '.join(unlisted[:3])}); keys and audio "
                "release do not match",
            )

    def asv_trials(self, phase: str | None = "eval") -> list[ASVTrial]:
        """ASV trials of the keys (``ASV/trial_metadata.txt``) of one phase (None: all)."""
        check_phase(phase)
        p = require("asvspoof2021_la", self.keys_dir / "ASV" / "trial_metadata.txt", "ASV key file")
        return read_la2021_asv_metadata(p, phase)

    def asv_scores(self, phase: str | None = "eval") -> ASVScores:
        """The organisers' ASV scores joined to the ASV keys (for the t-DCF)."""
        check_phase(phase)
        meta = require(
            "asvspoof2021_la", self.keys_dir / "ASV" / "trial_metadata.txt", "ASV key file"
        )
        # the keys' README spells the folder ASVtorch_kaldi, the evaluation script ASVTorch_Kaldi
        found = sorted((self.keys_dir / "ASV").glob("*/score.txt"))
        found = [p for p in found if p.parent.name.lower() == "asvtorch_kaldi"] or found
        if not found:
            require(
                "asvspoof2021_la",
                self.keys_dir / "ASV" / "ASVTorch_Kaldi" / "score.txt",
                "ASV score file",
            )
        return read_la2021_asv_scores(meta, found[0], phase)


def speaker_label_groups(
    trials: list[CMTrial], audio_dir: str | Path, ext: str = ".flac"
) -> dict[tuple[str, str], list[Path]]:
    """Files of each (speaker, key) pair in protocol order: the groups the study 04 source concatenates before cutting."""
    groups: dict[tuple[str, str], list[Path]] = {}
    for t in trials:
        groups.setdefault((t.speaker, t.key), []).append(Path(audio_dir) / f"{t.utt}{ext}")
    return groups


# Attack families of the real ASVspoof 2019 LA systems (Wang et al. 2020, Table 1): TTS, VC, or both (TTS_VC,
# counted here as VC: the attack converts a voice); the embedded corpus states its own in MANIFEST.json.
LA19_FAMILIES = {
    "A01": "TTS",
    "A02": "TTS",
    "A03": "TTS",
    "A04": "TTS",
    "A05": "VC",
    "A06": "VC",
    "A07": "TTS",
    "A08": "TTS",
    "A09": "TTS",
    "A10": "TTS",
    "A11": "TTS",
    "A12": "TTS",
    "A13": "VC",
    "A14": "VC",
    "A15": "VC",
    "A16": "TTS",
    "A17": "VC",
    "A18": "VC",
    "A19": "VC",
}


def attack_families(root: str | Path) -> dict[str, str]:
    """System id -> family (TTS, VC, vocoder): the corpus's MANIFEST.json where it has one, else the real LA's."""
    manifest = Path(root) / "MANIFEST.json"
    if manifest.is_file():
        systems = json.loads(manifest.read_text(encoding="utf-8")).get("systems", {})
        if systems:
            return {sid: str(d["family"]) for sid, d in systems.items()}
    return dict(LA19_FAMILIES)
