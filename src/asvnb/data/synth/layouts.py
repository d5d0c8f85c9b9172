"""Writers of each real dataset's on-disk layout (docs/LAYOUTS.md): paths, ID formats, protocol and key files.

Only the text side lives here (audio is rendered in build.py); every text file
is written atomically and only when its content changes, so a rebuild that
changes nothing touches nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asvnb import files

# -- folders of the real datasets, relative to the data root -------------------------------------
LA19 = "LA"
LA19_SPLIT_DIR = {
    "train": "LA/ASVspoof2019_LA_train/flac",
    "dev": "LA/ASVspoof2019_LA_dev/flac",
    "eval": "LA/ASVspoof2019_LA_eval/flac",
}
LA19_PREFIX = {"train": "LA_T", "dev": "LA_D", "eval": "LA_E"}
LA19_CM = {
    "train": "LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.train.trn.txt",
    "dev": "LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.dev.trl.txt",
    "eval": "LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.eval.trl.txt",
}
LA19_ASV_PROTO = "LA/ASVspoof2019_LA_asv_protocols/ASVspoof2019.LA.asv.{split}.{part}.{kind}.txt"
LA19_ASV_SCORES = "LA/ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt"
LA21_DIR = "ASVspoof2021_LA_eval/flac"
LA21_CM_LIST = "ASVspoof2021_LA_eval/ASVspoof2021.LA.cm.eval.trl.txt"
LA21_CM_KEYS = "LA-keys-stage-1/keys/CM/trial_metadata.txt"
LA21_ASV_KEYS = "LA-keys-stage-1/keys/ASV/trial_metadata.txt"
LA21_ASV_SCORES = "LA-keys-stage-1/keys/ASV/ASVTorch_Kaldi/score.txt"
CV_ROOT = "cv-corpus-14.0-delta-2023-06-23/en"
CV_COLUMNS = (
    "client_id",
    "path",
    "sentence",
    "up_votes",
    "down_votes",
    "age",
    "gender",
    "accents",
    "variant",
    "locale",
    "segment",
)
CV_REPORTED_COLUMNS = ("sentence_id", "sentence", "locale", "reason")
DV_ROOT = "KAGGLE"
DV_PERSONS = ("biden", "linus", "margot", "musk", "obama", "ryan", "taylor", "trump")
IMITATION_ROOT = "Fake_voice_recordings_Imitation"
MUSAN_SUBSETS = {"music": "fma", "noise": "free-sound", "speech": "librivox"}
RIR_ROOT = "RIRS_NOISES/simulated_rirs"


def write_text(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds exactly it; True when written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    files.write_text(path, text)
    return True


def lines(rows: list[tuple]) -> str:
    """Space-separated protocol lines, one per row, with a final newline."""
    return "".join(" ".join(map(str, r)) + "\n" for r in rows)


def unique_ids(rng: np.random.Generator, prefix: str, n: int, taken: set[str]) -> list[str]:
    """``n`` new IDs ``<prefix>_<7 digits>`` (the ASVspoof pattern) not in ``taken``; ``taken`` is updated."""
    out = []
    while len(out) < n:
        uid = f"{prefix}_{int(rng.integers(1_000_000, 10_000_000))}"
        if uid not in taken:
            taken.add(uid)
            out.append(uid)
    return out


@dataclass(frozen=True)
class CMRow:
    """One line of an ASVspoof 2019 CM protocol: ``SPEAKER UTT - SYSTEM KEY``."""

    speaker: str
    utt: str
    system: str  # "-" for bona fide
    key: str  # "bonafide" or "spoof"


def write_la19_cm(root: Path, split: str, rows: list[CMRow]) -> None:
    """ASVspoof2019.LA.cm.<split>.{trn,trl}.txt."""
    write_text(
        root / LA19_CM[split], lines([(r.speaker, r.utt, "-", r.system, r.key) for r in rows])
    )


def write_la19_asv(
    root: Path,
    split: str,
    enrol: dict[str, list[str]],
    genders: dict[str, str],
    trials: list[tuple[str, str, str, str]],
    scores: list[float],
) -> None:
    """Enrolment (``SPEAKER UTT1,UTT2,...``) per gender, trials (``SPEAKER UTT SYSTEM KEY``) per gender and
    gender-independent, and the ASV scores (``SYSTEM KEY SCORE``, in trial order)."""
    for gender in ("female", "male"):
        spk = [s for s in sorted(enrol) if genders[s] == gender]
        write_text(
            root / LA19_ASV_PROTO.format(split=split, part=gender, kind="trn"),
            lines([(s, ",".join(enrol[s])) for s in spk]),
        )
        write_text(
            root / LA19_ASV_PROTO.format(split=split, part=gender, kind="trl"),
            lines([t for t in trials if genders[t[0]] == gender]),
        )
    write_text(root / LA19_ASV_PROTO.format(split=split, part="gi", kind="trl"), lines(trials))
    write_text(
        root / LA19_ASV_SCORES.format(split=split),
        lines([(t[2], t[3], f"{s:.6f}") for t, s in zip(trials, scores)]),
    )


@dataclass(frozen=True)
class LA21Row:
    """One ASVspoof 2021 LA eval trial with its metadata (CM trial_metadata.txt columns)."""

    speaker: str
    utt: str
    codec: str
    transmission: str
    attack: str  # "bonafide" or the system ID
    key: str
    trim: str
    phase: str


def write_la21(
    root: Path, rows: list[LA21Row], asv_trials: list[tuple[LA21Row, str, str]], scores: list[float]
) -> None:
    """The eval list, the CM keys and the ASV keys/scores of ASVspoof 2021 LA.

    ASV lines carry ``-<codec>-<transmission>`` on speaker and utterance IDs, as the
    real keys do (``LA_0007-alaw-ita_tx LA_E_5013670-alaw-ita_tx alaw ita_tx bonafide
    nontarget notrim eval``); score.txt is ``SPEAKER UTT SCORE`` in the same order.
    """
    write_text(root / LA21_CM_LIST, lines([(r.utt,) for r in rows]))
    write_text(
        root / LA21_CM_KEYS,
        lines(
            [
                (r.speaker, r.utt, r.codec, r.transmission, r.attack, r.key, r.trim, r.phase)
                for r in rows
            ]
        ),
    )
    asv, scr = [], []
    for (r, claimed, key), s in zip(asv_trials, scores):
        suffix = f"-{r.codec}-{r.transmission}"
        asv.append(
            (
                claimed + suffix,
                r.utt + suffix,
                r.codec,
                r.transmission,
                r.attack,
                key,
                r.trim,
                r.phase,
            )
        )
        scr.append((claimed + suffix, r.utt + suffix, f"{s:.6f}"))
    write_text(root / LA21_ASV_KEYS, lines(asv))
    write_text(root / LA21_ASV_SCORES, lines(scr))


def cv_client_id(speaker: str, seed: int) -> str:
    """A 128-hex client_id like Common Voice's (SHA-512 of the speaker name and the seed)."""
    return hashlib.sha512(f"{seed}:{speaker}".encode()).hexdigest()


def write_cv_tsvs(root: Path, rows: dict[str, list[tuple]]) -> None:
    """validated/invalidated/other.tsv (CV_COLUMNS) and an empty reported.tsv (header only)."""
    base = root / CV_ROOT
    for name in ("validated", "invalidated", "other"):
        body = "".join("\t".join(map(str, r)) + "\n" for r in rows.get(name, []))
        write_text(base / f"{name}.tsv", "\t".join(CV_COLUMNS) + "\n" + body)
    write_text(base / "reported.tsv", "\t".join(CV_REPORTED_COLUMNS) + "\n")


def write_musan_texts(root: Path, files: dict[str, list[tuple[str, str]]]) -> None:
    """ANNOTATIONS (``name description``) and LICENSE in every MUSAN subset folder."""
    for kind, subset in MUSAN_SUBSETS.items():
        folder = root / "musan" / kind / subset
        write_text(folder / "ANNOTATIONS", lines(files.get(kind, [])))
        write_text(
            folder / "LICENSE",
            "Generated by asvnb (embedded corpus): synthetic stand-in for MUSAN "
            f"{kind}; speech from Debian packages under their licences (see MANIFEST.json).\n",
        )


def write_rir_list(root: Path, entries: dict[str, list[str]]) -> None:
    """``rir_list`` per room size: ``--rir-id <room>-RoomNNN-NNNNN --room-id <room>-RoomNNN <path>``."""
    for room, rels in entries.items():
        rows = []
        for rel in rels:
            room_dir, name = rel.split("/")[-2:]
            rows.append(("--rir-id", f"{room}-{name[:-4]}", "--room-id", f"{room}-{room_dir}", rel))
        write_text(root / RIR_ROOT / room / "rir_list", lines(rows))
