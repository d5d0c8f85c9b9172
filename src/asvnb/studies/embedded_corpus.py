"""The data chapter: what the embedded corpus holds, read back through the same adapters the studies use."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from asvnb import colab, config, features, results
from asvnb.audio import load_audio
from asvnb.data.asvspoof import LA2019, LA2021Eval
from asvnb.data.synth import build_corpus
from asvnb.studies import corpus_audit
from asvnb.studies.corpus_audit import nuisance_features

NOTEBOOK = "00_embedded_corpus"
SPLITS = ("train", "dev", "eval")


def setup(profile: str, data_root: str | Path | None, scale: str, seed: int) -> tuple[Path, dict]:
    """The chapter's set-up: Drive mounted on Colab, seeds, the corpus (built if incomplete), the fingerprint.

    Returns the corpus root and its manifest.
    """
    colab.mount_drive(data_root)  # on Colab, when the corpus is on Google Drive; else a no-op
    config.seed_everything(seed)
    if not config.generated(profile):
        raise ValueError(
            "this chapter describes the embedded corpus; with the real datasets, "
            "see 'Rerun a study on Colab'"
        )
    root = Path(data_root) if data_root else config.corpus_root(profile)
    if (
        profile == "ci"
    ):  # the CI profile's corpus is the smallest scale, whatever the parameter says
        scale = config.GENERATED_SCALES["ci"]
    manifest = build_corpus(root, scale=scale, seed=seed, progress=False)
    config.show_fingerprint(config.fingerprint(root, device="cpu"))
    return root, manifest


def scale_summary(manifest: dict) -> str:
    """One sentence: the corpus's scale, seed and how long its last full build took."""
    return (
        f"Scale **{manifest['scale']}**, seed {manifest['seed']}; "
        f"last full build took {manifest.get('build_seconds', float('nan')):.0f} s on this machine."
    )


def scale_table(manifest: dict) -> pd.DataFrame:
    """The sizes the corpus's scale sets."""
    return pd.Series(manifest["scale_parameters"]).to_frame("value")


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
    df = pd.DataFrame(rows)
    if set.intersection(*[set(g["recordings from"]) for _, g in df.groupby("split")]):
        raise ValueError("the LA splits share a speaker's recordings")
    return df


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


def log_mel_examples(root: str | Path) -> list[tuple[str, np.ndarray]]:
    """64-band log-mel spectrograms (25 ms / 10 ms) of :func:`examples_per_system`, for a grid of plots."""
    return [
        (name, features.log_mel(wav, "logmel40_resnetse", n_mels=64, instance_norm=False))
        for name, wav in examples_per_system(root)
    ]


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


def save_audit(audit: dict, profile: str, root: str | Path) -> tuple[list[results.ResultRow], Path]:
    """The audit's result rows, written to build/results/00_embedded_corpus.json; (rows, path)."""
    rows = corpus_audit.audit_rows(audit)
    path = results.write_results(NOTEBOOK, profile, rows, config.fingerprint(root, device="cpu"))
    return rows, path


def audit_summary(rows: list[results.ResultRow], path: Path) -> str:
    """The audit in three sentences: the baseline's pooled EERs, its hardest eval attack and codec, the hardest dev attack, the highest probe."""
    by = {r.data: r for r in rows if r.table == "baseline"}

    def worst(prefix: str, attack: bool = True) -> results.ResultRow:
        """The baseline row of highest EER among one set's attacks (or, ``attack`` false, its codec conditions)."""
        return max(
            (
                r
                for r in rows
                if r.table == "baseline"
                and r.data.startswith(prefix + " ")
                and bool(re.fullmatch(r"A\d+", r.data.split()[-1])) == attack
            ),
            key=lambda r: r.value,
        )

    worst_dev, worst_eval = worst("LA19 dev"), worst("LA19 eval")
    worst_codec = worst("LA21 eval", attack=False)
    worst_probe = max((r for r in rows if r.table == "probe"), key=lambda r: r.value)
    la19, la21 = by["LA19 eval"], by["LA21 eval"]
    return (
        f"LFCC-GMM pooled EER: **{la19.value:.1%}** on LA19 eval "
        f"(95 % interval {la19.ci95[0]:.1%}-{la19.ci95[1]:.1%}; the real set: 8.09 %) and "
        f"**{la21.value:.1%}** on LA21 eval (the real set: 19.3 %). Its hardest eval attack is "
        f"{worst_eval.data.split()[-1]} at {worst_eval.value:.1%}, its hardest 2021 codec condition "
        f"{worst_codec.data.split()[-1]} at {worst_codec.value:.1%}. The hardest training attack on dev is "
        f"{worst_dev.data.split()[-1]} at {worst_dev.value:.1%}; the highest probe is "
        f"'{worst_probe.system}' at {worst_probe.value:.3f} balanced accuracy. "
        f"Written to `{path.relative_to(config.project_root())}`."
    )


def shortcut_summary(check: dict) -> str:
    """One sentence on :func:`shortcut_check`: its balanced accuracy against chance."""
    return (
        f"Balanced accuracy on duration, level and band energies: "
        f"**{check['balanced_accuracy']:.3f}** over {check['n']} files (chance: 0.5)."
    )
