"""The data chapter: what the embedded corpus holds, read back through the same adapters the studies use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from asvnb.audio import load_audio
from asvnb.data.asvspoof import LA2019, LA2021Eval
from asvnb.studies.corpus_audit import nuisance_features

SPLITS = ("train", "dev", "eval")


def load_manifest(root: str | Path) -> dict:
    """MANIFEST.json of an embedded corpus; a clear error when the corpus was never built."""
    path = Path(root) / "MANIFEST.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no embedded corpus here; build it with `asvnb data synth --out {root}`"
        )
    return json.loads(path.read_text())


def la_counts(root: str | Path) -> pd.DataFrame:
    """Files per split and system of ASVspoof 2019 LA, counted from the CM protocols (as a reader sees them)."""
    rows = []
    for split in SPLITS:
        for t in LA2019(root, split).trials:
            rows.append({"split": split, "system": "bonafide" if t.key == "bonafide" else t.system})
    df = pd.DataFrame(rows).value_counts(["system", "split"]).unstack("split", fill_value=0)
    df = df.reindex(columns=list(SPLITS), fill_value=0)
    return df.loc[sorted(df.index, key=lambda s: (s != "bonafide", s))]


def la_durations(root: str | Path) -> pd.DataFrame:
    """Duration statistics (s) per split and class of ASVspoof 2019 LA, from the flac headers."""
    rows = []
    for split in SPLITS:
        la = LA2019(root, split)
        for t in la.trials:
            info = sf.info(str(la.audio_path(t.utt)))
            rows.append(
                {
                    "split": split,
                    "key": t.key,
                    "seconds": info.frames / info.samplerate,
                    "rate": info.samplerate,
                    "channels": info.channels,
                }
            )
    df = pd.DataFrame(rows)
    return (
        df.groupby(["split", "key"])["seconds"]
        .describe()[["count", "mean", "std", "min", "max"]]
        .round(2)
    )


def speakers_table(manifest: dict) -> pd.DataFrame:
    """LA speaker ID -> real recording source, gender and split (splits are speaker-disjoint)."""
    rows = []
    for split, info in manifest["datasets"]["ASVspoof2019_LA"].items():
        for spk, s in info["speakers"].items():
            rows.append(
                {
                    "split": split,
                    "speaker": spk,
                    "recordings from": s["source"],
                    "gender": s["gender"],
                }
            )
    return pd.DataFrame(rows)


def systems_table(manifest: dict, counts: pd.DataFrame) -> pd.DataFrame:
    """Each spoofing system: its family, how it is made, and where it occurs."""
    rows = []
    for sid, a in manifest["systems"].items():
        where = [s for s in SPLITS if sid in counts.index and counts.loc[sid, s] > 0]
        rows.append(
            {
                "system": sid,
                "family": a["family"],
                "method": a["description"],
                "artefact it leaves": a.get("artefact", ""),
                "splits": ", ".join(where) or "-",
            }
        )
    return pd.DataFrame(rows)


def sources_table(manifest: dict) -> pd.DataFrame:
    """Where the bona fide speech and the TTS voices come from, with their licences."""
    return pd.DataFrame(
        [
            {
                "source": k,
                "packages": ", ".join(v["packages"]),
                "licence": v["licence"],
                "what": v.get("description", v.get("text", "")),
            }
            for k, v in manifest["sources"].items()
        ]
    )


def other_datasets_table(manifest: dict) -> pd.DataFrame:
    """Counts of the corpus's other datasets (2021 LA eval, Common Voice, DEEP-VOICE, Imitation, MUSAN, RIRs)."""
    d = manifest["datasets"]
    rows = [
        (
            "ASVspoof 2021 LA eval",
            f"{d['ASVspoof2021_LA_eval']['files']} trials; codecs "
            + ", ".join(f"{k} {v}" for k, v in d["ASVspoof2021_LA_eval"]["codec"].items()),
        ),
        (
            "Common Voice delta",
            f"{d['CommonVoice_delta']['clips']} clips of {len(d['CommonVoice_delta']['speakers'])} "
            "held-out speakers; "
            + ", ".join(f"{k}.tsv {v}" for k, v in d["CommonVoice_delta"]["per_tsv"].items()),
        ),
        (
            "DEEP-VOICE",
            f"{d['DEEP-VOICE']['REAL']} REAL, {d['DEEP-VOICE']['FAKE']} FAKE; fakes: "
            f"{d['DEEP-VOICE']['fake_method']}",
        ),
        (
            "Imitation",
            f"{d['Imitation']['real']} real, {d['Imitation']['fake']} fake; fakes: "
            + "; ".join(d["Imitation"]["fake_methods"]),
        ),
        ("MUSAN", ", ".join(f"{k} {v}" for k, v in d["MUSAN"].items())),
        ("RIRS_NOISES", ", ".join(f"{k} {v}" for k, v in d["RIRS_NOISES"].items())),
    ]
    return pd.DataFrame(rows, columns=["dataset", "content"])


def examples_per_system(root: str | Path, sr: int = 16000) -> list[tuple[str, np.ndarray]]:
    """One waveform per system (bona fide first), train/dev systems from dev, the others from eval."""
    out: dict[str, np.ndarray] = {}
    for split in ("dev", "eval"):
        la = LA2019(root, split)
        for t in la.trials:
            name = "bonafide" if t.key == "bonafide" else t.system
            if name not in out:
                out[name] = load_audio(la.audio_path(t.utt), sr)
    return [(k, out[k]) for k in sorted(out, key=lambda s: (s != "bonafide", s))]


def la2021_summary(root: str | Path) -> pd.DataFrame:
    """2021 LA eval trials per codec and key, read through the LA2021Eval adapter."""
    trials = LA2021Eval(root).trials
    df = pd.DataFrame([{"codec": t.codec, "key": t.key} for t in trials])
    return df.value_counts(["codec", "key"]).unstack("key", fill_value=0)


def shortcut_check(root: str | Path, seed: int = 0) -> dict:
    """Balanced accuracy of a logistic regression on duration, level and band energies, 5-fold CV over all LA files.

    Near 0.5 means the class cannot be told from duration, level or bandwidth:
    bona fide and spoofed files went through the same channel. (The audit's
    probes ask the same with a train/eval split; this pooled check also works
    on the test suite's tiny corpus.)
    """
    from sklearn.linear_model import LogisticRegression

    X, y = [], []
    for split in SPLITS:
        la = LA2019(root, split)
        for t in la.trials:
            f = nuisance_features(load_audio(la.audio_path(t.utt)))
            X.append(f["duration"] + f["level"] + f["band_energy"])
            y.append(int(t.key == "spoof"))
    X, y = np.asarray(X), np.asarray(y)
    clf = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced"))
    pred = cross_val_predict(clf, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    cols = ["seconds", "level_db", "band_0_4k_db", "band_4_7k_db", "above_7khz_db"]
    per_class = (
        pd.DataFrame(X, columns=cols)
        .assign(key=np.where(y == 1, "spoof", "bonafide"))
        .groupby("key")
        .mean()
        .round(2)
    )
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "n": int(len(y)),
        "means": per_class,
    }
