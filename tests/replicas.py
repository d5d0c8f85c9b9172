"""Miniature replicas of the real dataset layouts, with the quirks of the real files, for the adapter tests.

Each ``write_*`` function writes one dataset under ``root`` exactly where the
real download unpacks (docs/LAYOUTS.md) and returns what a test needs to
check the adapter against: the trials or files it wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

SR = 16000
Trial = tuple[str, str, str, str]  # speaker, utterance, system ('-' for bona fide), key


def tone(
    freq: float, seconds: float, sr: int = SR, amp: float = 0.3, channels: int = 1
) -> np.ndarray:
    """A sine tone (``channels`` identical columns when > 1)."""
    t = np.arange(int(round(seconds * sr))) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


def write(path: Path, data: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> Path:
    """Write audio with soundfile (flac/wav by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sr, subtype=subtype)
    return path


# ----------------------------------------------------------------------------- ASVspoof 2019 LA

LA2019_TRIALS = {
    # speaker, utt, system, key; durations differ per utterance
    "train": [
        ("LA_0079", "LA_T_1138215", "-", "bonafide"),
        ("LA_0079", "LA_T_1271820", "A01", "spoof"),
        ("LA_0080", "LA_T_1004644", "-", "bonafide"),
        ("LA_0080", "LA_T_1056709", "A04", "spoof"),
        ("LA_0079", "LA_T_2000001", "A06", "spoof"),
    ],
    "dev": [
        ("LA_0069", "LA_D_1047731", "-", "bonafide"),
        ("LA_0070", "LA_D_1105538", "A02", "spoof"),
    ],
    "eval": [
        ("LA_0039", "LA_E_2834763", "A11", "spoof"),
        ("LA_0014", "LA_E_8688218", "-", "bonafide"),
        ("LA_0014", "LA_E_1665515", "A07", "spoof"),
    ],
}
CM_NAMES = {
    "train": "ASVspoof2019.LA.cm.train.trn.txt",
    "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
    "eval": "ASVspoof2019.LA.cm.eval.trl.txt",
}


def write_la2019_cm(
    root: Path,
    trials: Mapping[str, Sequence[Trial]],
    audio: Mapping[str, np.ndarray],
    sr: int = SR,
    quirks: bool = False,
) -> Path:
    """``root/LA``: per split the CM protocol of ``trials`` and one flac per trial, ``audio[utt]``.

    ``quirks`` writes what the real protocols tolerate: trailing spaces on the first line, a blank last line.
    """
    la = root / "LA"
    for split, rows in trials.items():
        lines = [" ".join((s, u, "-", sy, k)) for s, u, sy, k in rows]
        if quirks:
            lines[0] += "  "
        proto = la / "ASVspoof2019_LA_cm_protocols" / CM_NAMES[split]
        proto.parent.mkdir(parents=True, exist_ok=True)
        proto.write_text("\n".join(lines) + ("\n\n" if quirks else "\n"))
        for _, u, _, _ in rows:
            write(la / f"ASVspoof2019_LA_{split}" / "flac" / f"{u}.flac", audio[u], sr)
    return la


def write_la2019(root: Path) -> Path:
    """The adapter tests' ``root/LA``: LA2019_TRIALS as tones, CM protocols with quirks, ASV lists and scores."""
    audio = {
        u: tone(200 + 100 * n, 0.3 + 0.1 * n)
        for rows in LA2019_TRIALS.values()
        for n, (_, u, _, _) in enumerate(rows)
    }
    la = write_la2019_cm(root, LA2019_TRIALS, audio, quirks=True)
    asv = la / "ASVspoof2019_LA_asv_protocols"
    asv.mkdir(parents=True, exist_ok=True)
    for split, spk_f, spk_m in (("dev", "LA_0069", "LA_0070"), ("eval", "LA_0014", "LA_0039")):
        (asv / f"ASVspoof2019.LA.asv.{split}.female.trn.txt").write_text(
            f"{spk_f} LA_X_0000001,LA_X_0000002,LA_X_0000003\n"
        )
        (asv / f"ASVspoof2019.LA.asv.{split}.male.trn.txt").write_text(
            f"{spk_m} LA_X_0000004,LA_X_0000005\n"
        )
    (asv / "ASVspoof2019.LA.asv.dev.gi.trl.txt").write_text(
        "LA_0069 LA_D_1047731 bonafide target\nLA_0070 LA_D_1047731 bonafide nontarget\nLA_0070 LA_D_1105538 A02 spoof\n"
    )
    (asv / "ASVspoof2019.LA.asv.eval.gi.trl.txt").write_text(
        "LA_0014 LA_E_8688218 bonafide target\nLA_0039 LA_E_8688218 bonafide nontarget\nLA_0039 LA_E_2834763 A11 spoof\n"
    )
    sc = la / "ASVspoof2019_LA_asv_scores"
    sc.mkdir(parents=True, exist_ok=True)
    (sc / "ASVspoof2019.LA.asv.dev.gi.trl.scores.txt").write_text(
        "bonafide target 2.31\nbonafide target 1.5\nbonafide nontarget -3.25\nA02 spoof -0.4\n"
    )
    (sc / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt").write_text(
        "bonafide target 4.0\nbonafide nontarget -2.0\nA11 spoof 0.5\nA11 spoof 1.5\n"
    )
    return la


# ----------------------------------------------------------------------------- ASVspoof 2021 LA eval

LA2021_CM = [
    "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval",
    "LA_0009 LA_E_1000048 none - bonafide bonafide notrim progress",
    "LA_0012 LA_E_5013670 g722 loc_tx - bonafide notrim eval",  # '-' as bona fide attack is accepted too
    "LA_0012 LA_E_7417804 opus sin_tx A19 spoof notrim hidden_track",
]
LA2021_ASV = [
    "LA_0007-alaw-ita_tx LA_E_5013670-alaw-ita_tx alaw ita_tx bonafide target notrim eval",
    "LA_0007-alaw-ita_tx LA_E_1103494-alaw-ita_tx alaw ita_tx bonafide nontarget notrim eval",
    "LA_0013-alaw-ita_tx LA2021-LA_E_5658320 alaw ita_tx A07 spoof notrim eval",
    "LA_0013-alaw-ita_tx LA2021-LA_E_1000048 alaw ita_tx A08 spoof notrim progress",
]
LA2021_ASV_SCORES = [  # not in key order: the reader joins on (speaker, utt)
    "LA_0013-alaw-ita_tx LA2021-LA_E_5658320 -1.25",
    "LA_0007-alaw-ita_tx LA_E_5013670-alaw-ita_tx 3.5",
    "LA_0013-alaw-ita_tx LA2021-LA_E_1000048 0.75",
    "LA_0007-alaw-ita_tx LA_E_1103494-alaw-ita_tx -4.0",
]


def write_la2021_eval(
    root: Path,
    cm: Sequence[str],
    asv: Sequence[str],
    asv_scores: Sequence[str],
    audio: Mapping[str, np.ndarray],
    sr: int = SR,
    keys: str = "stage-1",
) -> Path:
    """``ASVspoof2021_LA_eval`` (a flac per CM key line, ``audio[utt]``, and the trial list) and its keys.

    ``cm``, ``asv`` and ``asv_scores`` are the lines of the CM and ASV ``trial_metadata.txt`` and of the
    ASV scores; the keys go to ``LA-keys-stage-1/keys`` or (``keys="full"``) ``LA-keys-full/keys/LA``.
    """
    ev = root / "ASVspoof2021_LA_eval"
    utts = [line.split()[1] for line in cm]
    for u in utts:
        write(ev / "flac" / f"{u}.flac", audio[u], sr)
    (ev / "ASVspoof2021.LA.cm.eval.trl.txt").write_text("\n".join(utts) + "\n")
    kd = (
        root / "LA-keys-stage-1" / "keys"
        if keys == "stage-1"
        else root / "LA-keys-full" / "keys" / "LA"
    )
    for path, lines in (
        (kd / "CM" / "trial_metadata.txt", cm),
        (kd / "ASV" / "trial_metadata.txt", asv),
        (kd / "ASV" / "ASVTorch_Kaldi" / "score.txt", asv_scores),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return ev


def write_la2021(root: Path, keys: str = "stage-1") -> Path:
    """The adapter tests' LA 2021 eval: LA2021_CM as tones, with the ASV keys and scores."""
    audio = {line.split()[1]: tone(300 + 50 * n, 0.25) for n, line in enumerate(LA2021_CM)}
    return write_la2021_eval(root, LA2021_CM, LA2021_ASV, LA2021_ASV_SCORES, audio, keys=keys)


# ----------------------------------------------------------------------------- the mini corpus of studies 01 and 04


def harmonic(seconds: float, f0: float, rng: np.random.Generator) -> np.ndarray:
    """A harmonic tone with a little noise: 'real' speech of the mini corpus."""
    t = np.arange(int(seconds * SR)) / SR
    return 0.3 * sum(
        np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3)
    ) + 0.01 * rng.standard_normal(len(t))


def noise(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """White noise: 'fake' speech of the mini corpus."""
    return 0.2 * rng.standard_normal(int(seconds * SR))


def write_mini_corpus(root: Path) -> None:
    """Studies 01 and 04's corpus: a few seconds of audio in the layouts of ASVspoof 2019 LA, DEEP-VOICE and Imitation."""
    rng = np.random.default_rng(0)
    trials, audio, n = {}, {}, 0
    for split, letter in (("train", "T"), ("dev", "D"), ("eval", "E")):
        trials[split] = []
        for spk in (f"LA_00{split[0]}1", f"LA_00{split[0]}2"):
            for key in ("bonafide", "spoof"):
                for _ in range(3):  # 3 x 0.7 s per speaker and label: segments of 1, 1 and 0.1 s
                    n += 1
                    utt = f"LA_{letter}_{n:07d}"
                    audio[utt] = (
                        harmonic(0.7, 120 + 10 * n % 80, rng)
                        if key == "bonafide"
                        else noise(0.7, rng)
                    )
                    trials[split].append((spk, utt, "-" if key == "bonafide" else "A01", key))
    write_la2019_cm(root, trials, audio, SR)
    for folder, names in (
        ("REAL", ("ann-original", "bob-original", "cat-original")),
        ("FAKE", ("ann-to-bob", "bob-to-cat", "cat-to-ann")),
    ):
        for i, name in enumerate(names):
            wav = harmonic(3.0, 110 + 30 * i, rng) if folder == "REAL" else noise(3.0, rng)
            path = root / "KAGGLE" / "AUDIO" / folder / f"{name}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, np.stack([wav, wav], axis=1), SR)  # stereo, as the real recordings
    for label in ("real", "fake"):
        for i in range(2):
            path = root / "Fake_voice_recordings_Imitation" / label / f"{label}{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(
                path, harmonic(1.5, 140 + 20 * i, rng) if label == "real" else noise(1.5, rng), SR
            )


# ----------------------------------------------------------------------------- Common Voice

CV_HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment"
SPK_A, SPK_B = "a" * 128, "0123456789abcdef" * 8


def write_commonvoice(root: Path) -> Path:
    """``cv-corpus-14.0-delta-2023-06-23/en`` with 48 kHz MP3 clips, validated.tsv (a quoted sentence, empty fields), times.txt."""
    d = root / "cv-corpus-14.0-delta-2023-06-23" / "en"
    rows = [
        (
            SPK_A,
            "common_voice_en_37000001.mp3",
            'He said "no" twice.',
            "2",
            "0",
            "twenties",
            "male",
            "England English",
            "",
            "en",
            "",
        ),
        (SPK_A, "common_voice_en_37000002.mp3", "It's a test.", "3", "1", "", "", "", "", "en", ""),
        (
            SPK_B,
            "common_voice_en_37000003.mp3",
            "Another sentence.",
            "2",
            "0",
            "",
            "female",
            "",
            "",
            "en",
            "",
        ),
    ]
    for n, r in enumerate(rows):
        write(
            d / "clips" / r[1],
            tone(440 + 110 * n, 0.6, sr=48000),
            sr=48000,
            subtype="MPEG_LAYER_III",
        )
    (d / "validated.tsv").write_text("\n".join([CV_HEADER] + ["\t".join(r) for r in rows]) + "\n")
    for name in ("invalidated", "other"):
        (d / f"{name}.tsv").write_text(CV_HEADER + "\n")
    (d / "times.txt").write_text("".join(f"{r[1]}\t600\n" for r in rows))
    return d


# ----------------------------------------------------------------------------- Kaggle DEEP-VOICE


def write_deepvoice(root: Path, seconds: float = 2.5) -> Path:
    """``KAGGLE/AUDIO/{REAL,FAKE}``: stereo 44.1 kHz real files, mono 48 kHz fakes, and the features csv."""
    audio = root / "KAGGLE" / "AUDIO"
    write(audio / "REAL" / "biden-original.wav", tone(300, seconds, sr=44100, channels=2), sr=44100)
    write(audio / "REAL" / "musk-original.wav", tone(500, seconds, sr=44100, channels=2), sr=44100)
    write(audio / "FAKE" / "biden-to-musk.wav", tone(700, seconds, sr=48000), sr=48000)
    write(audio / "FAKE" / "musk-to-biden.wav", tone(900, seconds, sr=48000), sr=48000)
    (root / "KAGGLE" / "DATASET-balanced.csv").write_text("chroma_stft,rms,LABEL\n0.3,0.01,FAKE\n")
    return audio


# ----------------------------------------------------------------------------- Imitation (Mendeley)


def write_imitation(root: Path) -> Path:
    """``Fake_voice_recordings_Imitation/{real,fake}/*.wav``: whole clips of different lengths and rates."""
    d = root / "Fake_voice_recordings_Imitation"
    write(d / "real" / "r01.wav", tone(250, 0.5))
    write(d / "real" / "r02.wav", tone(260, 0.7, sr=22050), sr=22050)
    write(d / "fake" / "f01.wav", tone(270, 0.4))
    return d


# ----------------------------------------------------------------------------- MUSAN and RIRS_NOISES


def write_musan(root: Path) -> Path:
    """``musan/{music,speech,noise}/<subset>/*.wav`` (16 kHz mono) with the ANNOTATIONS/LICENSE text files."""
    m = root / "musan"
    rng = np.random.default_rng(0)
    subsets = {
        "music": ["fma", "hd-classical"],
        "speech": ["librivox", "us-gov"],
        "noise": ["free-sound", "sound-bible"],
    }
    for cat, subs in subsets.items():
        for s in subs:
            for k in range(4 if cat == "speech" else 1):
                write(
                    m / cat / s / f"{cat}-{s}-{k:04d}.wav",
                    (0.1 * rng.standard_normal(SR // 2)).astype(np.float32),
                )
            (m / cat / s / "ANNOTATIONS").write_text("file annotation\n")
            (m / cat / s / "LICENSE").write_text("licence text\n")
    return m


def write_rirs(root: Path) -> Path:
    """``RIRS_NOISES/simulated_rirs/{small,medium}room/RoomNNN/RoomNNN-NNNNN.wav`` plus ``rir_list``."""
    d = root / "RIRS_NOISES" / "simulated_rirs"
    for size in ("smallroom", "mediumroom"):
        rir = np.zeros(800, dtype=np.float32)
        rir[0], rir[400] = 1.0, 0.5  # direct path and one echo 25 ms later
        write(d / size / "Room001" / "Room001-00001.wav", rir, subtype="FLOAT")
        (d / size / "rir_list").write_text(
            f"--rir-id Room001-00001 --room-id Room001 {size}/Room001/Room001-00001.wav\n"
        )
    return d


def tiny_wavlm(seed: int) -> tuple[Any, Any]:
    """A WavLM detector of study 02's kind, tiny and random (seeded): ``(feature extractor, model)``."""
    from transformers import WavLMForSequenceClassification  # heavy: only the WavLM tests need it

    from asvnb.models import wavlm

    torch.manual_seed(seed)
    config = wavlm.standin_config(wavlm.WavLMStandinConfig(conv_channels=8, hidden=16, ffn=32))
    return wavlm.feature_extractor(), WavLMForSequenceClassification(config)
