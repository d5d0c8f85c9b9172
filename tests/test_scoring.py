"""``asvnb score``: detectors described by their run folders, scored on real recordings and on bad files.

The real recordings are the speech of Debian's ``pocketsphinx-testdata`` (CMU
Sphinx's test utterances and LibriVox readings, 16 kHz WAV), a package the
embedded corpus does not use. The models are tiny networks built here and
saved through the same functions the studies use (``model_config``,
``describe_detector``) into temporary run folders: nothing depends on build/.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile as sf
import torch
from replicas import tiny_wavlm

from asvnb import audio, metrics, scoring
from asvnb.cli import build_parser, main
from asvnb.train import (
    DetectorCardError,
    crop_or_pad,
    describe_detector,
    dev_threshold,
    image_frontend,
    model_config,
    read_card,
    segments,
    transformers_frontend,
    waveform_frontend,
    whole,
)
from asvnb.train.classify import Predictions

SPEECH_PACKAGE = "pocketsphinx-testdata"
SPEECH_DIR = Path("/usr/share/pocketsphinx/test/data")


@pytest.fixture(scope="module")
def speech() -> list[Path]:
    """The package's WAV recordings; installed through the corpus's own apt route when root, else the test skips."""
    from asvnb.data.synth.sources import SystemPackagesMissing, ensure_packages

    if not SPEECH_DIR.is_dir():
        try:
            ensure_packages((SPEECH_PACKAGE,))
        except SystemPackagesMissing as exc:
            pytest.skip(
                f"Debian package {SPEECH_PACKAGE} (real recorded speech) is not installed: {exc}"
            )
    files = sorted(SPEECH_DIR.rglob("*.wav"), key=lambda p: p.as_posix())
    if len(files) < 5:
        pytest.skip(
            f"Debian package {SPEECH_PACKAGE} is not installed (no WAV files under {SPEECH_DIR}); "
            f"run: apt-get install {SPEECH_PACKAGE}"
        )
    return files


# ----------------------------------------------------------------------------- tiny detectors in run folders

CNN_KW = {"n_classes": 2, "in_channels": 3, "channels": (4, 8, 8), "hidden": 16, "emb_dim": 8}


def save_detector(best: Path, cls: type[torch.nn.Module], kw: dict, seed: int, **card) -> None:
    """``cls(**kw)`` built after ``torch.manual_seed(seed)``, its weights saved in a new folder ``best`` (as the
    trainer exports them) and its card beside them: 16 kHz, class 0 bona fide, the rest of the card as given."""
    best.mkdir(parents=True)
    torch.manual_seed(seed)
    torch.save(cls(**kw).state_dict(), best / "model.pt")
    describe_detector(
        best, model=model_config(cls, **kw), sample_rate=16000, bonafide_class=0, **card
    )


def image_run(
    root: Path,
    threshold: float | None = 0.0,
    size: int = 32,
    model_size: int | None = None,
    clip: dict | None = None,
) -> Path:
    """A run folder ``root/seed0`` holding a tiny spectrogram CNN (study 01's kind) and its card."""
    from asvnb.models.cnn import SpectrogramCNN

    save_detector(
        root / "seed0" / "best",
        SpectrogramCNN,
        CNN_KW,
        seed=0,
        frontend=image_frontend(512, size=size, model_size=model_size),
        clip=clip or crop_or_pad(2.0),
        threshold=None if threshold is None else dev_threshold(threshold, 0.25, "test dev"),
        name="tiny CNN",
        study="test",
    )
    return root / "seed0"


def resnetse_run(root: Path) -> Path:
    """A tiny ResNetSE (study 03's kind) whose log-mel front end is a SpecConfig: saved as JSON, rebuilt from it."""
    from asvnb.features import preset
    from asvnb.models.resnetse import ResNetSE

    kw = {
        "channels": (8, 8, 8, 8),
        "layers": (1, 1, 1, 1),
        "emb_dim": 8,
        "frontend": preset("logmel40_resnetse", sr=16000),
    }
    save_detector(
        root / "best",
        ResNetSE,
        kw,
        seed=1,
        frontend=waveform_frontend(),
        clip=crop_or_pad(1.5),
        threshold=dev_threshold(-2.0, 0.3, "test dev"),
    )
    return root


def wavlm_dir(root: Path) -> Path:
    """A tiny WavLM detector (study 02's kind) saved as transformers saves the stand-in, without a card."""
    fe, model = tiny_wavlm(seed=2)
    model.save_pretrained(str(root))
    fe.save_pretrained(str(root))
    return root


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "asvnb.cli", "score", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


# ----------------------------------------------------------------------------- real recordings


def test_scores_a_folder_of_real_recordings(tmp_path, speech):
    run = image_run(tmp_path / "run")
    out = tmp_path / "scores.txt"
    err = io.StringIO()
    assert scoring.score_paths([SPEECH_DIR], run, out=out, device="cpu", stderr=err) == 0
    table = metrics.read_decisions(out)
    # every WAV of the package, found recursively in path order (its headerless .raw files are not audio files)
    assert [Path(unquote(u)) for u in table["utt"]] == speech
    assert np.isfinite(table["score"]).all()
    assert (
        (table["score"] > 0.0) == (table["decision"] == "bonafide")
    ).all()  # the stored threshold is 0.0
    assert f"{len(speech)} of {len(speech)} file(s) scored" in err.getvalue()
    assert "dev EER threshold 0 (dev EER on test dev, EER 25.00%)" in err.getvalue()


def test_scores_equal_the_networks_own_log_odds(tmp_path, speech):
    # the same front end by hand: load at 16 kHz, 2 s repeat-padded, 512-point spectrogram image, 8-bit pixels
    from asvnb.features import SpecgramImage

    run = image_run(tmp_path / "run")
    det = scoring.load_detector(run, "cpu")
    wav = audio.crop_or_pad(audio.load_audio(speech[0], sr=16000), 32000)
    img = SpecgramImage(16000, 512, 256, 32)(torch.from_numpy(wav), torch.uint8).float() / 255
    with torch.no_grad():
        logits = det.network(img).numpy()
    expected = Predictions(logits, np.zeros(1, dtype=int)).scores(0)[
        0
    ]  # log-odds of class 0 (bona fide)
    assert det.score_waveform(audio.load_audio(speech[0], sr=16000)) == pytest.approx(
        expected, abs=1e-9
    )
    assert expected == pytest.approx(float(logits[0, 0] - logits[0, 1]), abs=1e-5)


def test_cli_on_real_recordings_to_stdout_and_to_a_file(tmp_path, speech):
    run = image_run(tmp_path / "run")
    proc = run_cli(str(speech[0]), str(speech[1]), "--model", str(run), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == [str(speech[0]), str(speech[1])]
    assert all(ln.split()[2] in ("bonafide", "spoof") for ln in lines)
    out = tmp_path / "sub" / "scores.txt"
    # (argparse reads "-1e9" as an option: "--threshold=-1e9"; "-0.5" also works as a separate word)
    proc = run_cli(
        str(SPEECH_DIR / "cards"),
        "--model",
        str(run / "best"),
        "--threshold=-1e9",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    table = metrics.read_decisions(out)
    assert len(table) == 5 and (table["decision"] == "bonafide").all()  # every score is above -1e9
    assert "decision at threshold -1e+09" in proc.stderr
    # the first two columns are a 2021 submission file
    sub = tmp_path / "sub.txt"
    sub.write_text("".join(" ".join(ln.split()[:2]) + "\n" for ln in out.read_text().splitlines()))
    assert list(metrics.read_scores(sub)) == list(table["utt"])


def test_resnetse_and_segments(tmp_path, speech):
    run = resnetse_run(tmp_path / "rse")
    det = scoring.load_detector(run, "cpu")
    assert det.min_samples == 257  # n_fft // 2 + 1 of the 16 kHz log-mel
    wav = audio.load_audio(speech[0], sr=16000)
    x = torch.from_numpy(audio.crop_or_pad(wav, 24000))[None]
    with torch.no_grad():
        expected = Predictions(det.network(x).numpy(), np.zeros(1, dtype=int)).scores(0)[0]
    assert det.score_waveform(wav) == pytest.approx(expected, abs=1e-9)
    # segments of 1 s: the 3.5 s recording gives 1 + 1 + 1 + 0.5 s, and the score is their mean
    long = audio.load_audio(SPEECH_DIR / "cards" / "005.wav", sr=16000)
    seg = image_run(tmp_path / "seg", clip=segments(1.0))
    det = scoring.load_detector(seg, "cpu")
    pieces = audio.segment(long, 16000, drop_last=False)
    assert [len(p) for p in pieces][-1] == len(long) - 3 * 16000
    one_piece = scoring.Detector(
        det.source, dataclasses.replace(det.card, clip=whole()), det.network
    )
    by_hand = np.mean([one_piece.score_waveform(p) for p in pieces])
    assert det.score_waveform(long) == pytest.approx(by_hand, abs=1e-9)


def test_image_scaled_for_the_network_as_the_studies_scale_it(tmp_path, speech):
    # study 04 draws 224 px images and trains ResNet18 on them scaled to 112 (ImageSet.resized): the same pixels here
    from asvnb.data.images import Clip
    from asvnb.features import render

    run = image_run(tmp_path / "run", size=64, model_size=32)
    det = scoring.load_detector(run, "cpu")
    wav = audio.crop_or_pad(audio.load_audio(speech[0], sr=16000), 32000)
    study = render([Clip("x", 0, "g", wav, 512)], 16000, "tensor", 64).resized(32)
    ours = det._image(torch.from_numpy(wav)[None])
    assert torch.equal(ours, study.images.float() / 255.0)
    assert (
        scoring.score_paths(
            speech[:2], run, out=tmp_path / "s.txt", device="cpu", stderr=io.StringIO()
        )
        == 0
    )


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
def test_wavlm_folder_without_a_card_needs_a_threshold(tmp_path, speech):
    folder = wavlm_dir(tmp_path / "wavlm")
    with pytest.raises(
        scoring.ScoringError,
        match=r"no dev EER threshold is stored with this model; pass "
        r"--threshold VALUE",
    ):
        scoring.score_paths(speech[:2], folder, device="cpu")
    assert (
        scoring.score_paths(
            speech[:2],
            folder,
            threshold=0.0,
            out=tmp_path / "a.txt",
            device="cpu",
            stderr=io.StringIO(),
        )
        == 0
    )
    # described: its dev threshold is used, and the score is logit[bona fide] - logit[spoof], as study 02's
    describe_detector(
        folder,
        sample_rate=16000,
        frontend=transformers_frontend(),
        clip=whole(),
        bonafide_class=0,
        threshold=dev_threshold(0.5, 0.2, "test dev"),
    )
    assert (
        scoring.score_paths(
            speech[:2], folder, out=tmp_path / "b.txt", device="cpu", stderr=io.StringIO()
        )
        == 0
    )
    a, b = metrics.read_decisions(tmp_path / "a.txt"), metrics.read_decisions(tmp_path / "b.txt")
    np.testing.assert_allclose(a["score"], b["score"])
    assert ((b["score"] > 0.5) == (b["decision"] == "bonafide")).all()
    from asvnb.models import wavlm

    fe, model = wavlm.load_detector(folder)
    logits = wavlm.predict_logits(fe, model, [audio.load_audio(speech[0])])
    assert a["score"][0] == pytest.approx(float(wavlm.cm_scores(logits)[0]), abs=1e-5)
    # a trainer run that exported a transformers model to best/ (study 02's fine-tuning) loads the same way
    run = tmp_path / "finetune" / "seed0"
    shutil.copytree(folder, run / "best")
    (run / "best" / "asvnb_detector.json").unlink()
    assert scoring.load_detector(run, "cpu").card.frontend == {"kind": "transformers"}


# ----------------------------------------------------------------------------- bad files among good ones


def _bad_files(folder: Path, real: Path) -> dict[str, str]:
    """Bad files next to good ones: name -> a fragment of the reason each must be reported with."""
    folder.mkdir(parents=True, exist_ok=True)
    data = real.read_bytes()
    (folder / "truncated.wav").write_bytes(data[: len(data) // 2])
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.wav").write_text("this is a text file, not audio\n")
    sf.write(folder / "no_frames.wav", np.zeros(0, dtype=np.float32), 16000)
    nan = np.full(8000, 0.1, dtype=np.float32)
    nan[4000] = np.nan
    sf.write(folder / "nan.wav", nan, 16000, subtype="FLOAT")
    sf.write(folder / "short.wav", np.zeros(100, dtype=np.float32), 16000)
    return {
        "truncated.wav": "truncated audio",
        "empty.wav": "unreadable audio header",
        "notes.wav": "unreadable audio header",
        "no_frames.wav": "empty audio (0 samples)",
        "nan.wav": "NaN or inf samples, first at frame 4000",
        "short.wav": "too short: 100 samples (6.2 ms) at 16000 Hz; this detector needs at least 512",
    }


def test_a_mix_of_good_and_bad_files(tmp_path, speech):
    run = image_run(tmp_path / "run")
    mix = tmp_path / "mix"
    mix.mkdir()
    for p in speech[:2]:
        shutil.copy(p, mix / p.name)
    reasons = _bad_files(mix / "bad", speech[0])
    missing = tmp_path / "missing.flac"
    out = tmp_path / "scores.txt"
    proc = run_cli(str(mix), str(missing), "--model", str(run), "--out", str(out))
    assert proc.returncode == 1, proc.stderr  # some failed
    table = metrics.read_decisions(out)  # ... and the good ones are scored
    assert sorted(Path(u).name for u in table["utt"]) == sorted(p.name for p in speech[:2])
    for name, why in reasons.items():
        assert f"asvnb score: {mix / 'bad' / name}: " in proc.stderr, name
        line = next(ln for ln in proc.stderr.splitlines() if f"{mix / 'bad' / name}:" in ln)
        assert why in line, (name, line)
    assert f"asvnb score: {missing}: no such file or folder" in proc.stderr
    assert (
        f"2 of {len(reasons) + 3} file(s) scored" in proc.stderr
        and f"{len(reasons) + 1} failed" in proc.stderr
    )


def test_nothing_good_writes_nothing(tmp_path, speech):
    run = image_run(tmp_path / "run")
    _bad_files(tmp_path / "bad", speech[0])
    out = tmp_path / "scores.txt"
    err = io.StringIO()
    assert scoring.score_paths([tmp_path / "bad"], run, out=out, device="cpu", stderr=err) == 1
    assert not out.exists() and "nothing scored" in err.getvalue()
    empty = tmp_path / "no_audio"
    empty.mkdir()
    (empty / "readme.txt").write_text("no audio here")
    assert scoring.score_paths([empty], run, out=out, device="cpu", stderr=err) == 1
    assert f"{empty}: no audio files in this folder" in err.getvalue()


def test_progress_bar_on_long_lists(tmp_path, speech, capsys):
    run = image_run(tmp_path / "run")
    files = [
        Path(shutil.copy(speech[0], tmp_path / f"copy {i:02d}.wav"))
        for i in range(scoring.PROGRESS_MIN)
    ]
    assert scoring.score_paths(files, run, out=tmp_path / "s.txt", device="cpu", progress=True) == 0
    err = capsys.readouterr().err
    assert "scoring: 100%" in err and f"{scoring.PROGRESS_MIN}/{scoring.PROGRESS_MIN}" in err
    # file names with spaces: percent-encoded IDs that decode back to the paths
    ids = list(metrics.read_decisions(tmp_path / "s.txt")["utt"])
    assert ids[0] == str(files[0]).replace(" ", "%20") and [Path(unquote(u)) for u in ids] == files


# ----------------------------------------------------------------------------- models that cannot be used


def test_models_that_cannot_be_used(tmp_path, speech, capsys):
    no_thr = image_run(tmp_path / "a", threshold=None)
    assert main(["score", str(speech[0]), "--model", str(no_thr)]) == 2
    assert (
        "no dev EER threshold is stored with this model; pass --threshold VALUE"
        in capsys.readouterr().err
    )
    assert main(["score", str(speech[0]), "--model", str(no_thr), "--threshold", "-0.5"]) == 0
    assert capsys.readouterr().out.split()[2] in ("bonafide", "spoof")
    # a trainer run that does not describe its detector (what the book's runs hold until the studies save cards)
    undescribed = tmp_path / "b" / "seed0"
    (undescribed / "best").mkdir(parents=True)
    (undescribed / "best" / "asvnb_model.json").write_text('{"model_config": {}}')
    assert main(["score", str(speech[0]), "--model", str(undescribed)]) == 2
    assert "does not describe its detector (no asvnb_detector.json)" in capsys.readouterr().err
    for bad in ("nan", "inf", "high"):
        with pytest.raises(SystemExit) as stop:
            build_parser().parse_args(
                ["score", str(speech[0]), "--model", str(no_thr), "--threshold", bad]
            )
        assert stop.value.code == 2
    assert (
        build_parser().parse_args(["score", "x", "--model", "m", "--threshold", "-0.64"]).threshold
        == -0.64
    )
    with pytest.raises(scoring.ScoringError, match="no such model folder"):
        scoring.load_detector(tmp_path / "nowhere")
    with pytest.raises(scoring.ScoringError, match="not a detector folder"):
        scoring.load_detector(tmp_path)


def test_detector_cards_are_checked(tmp_path):
    run = image_run(tmp_path / "run")
    best = run / "best"
    card = read_card(best)
    assert card.frontend == {
        "kind": "spectrogram_image",
        "nfft": 512,
        "noverlap": 256,
        "size": 32,
        "model_size": 32,
    }
    assert card.model["kwargs"]["channels"] == [4, 8, 8] and card.threshold["value"] == 0.0
    path = best / "asvnb_detector.json"
    text = path.read_text()
    for old, new, why in [
        ('"kind": "spectrogram_image"', '"kind": "mfcc"', "front end must be one of"),
        ('"asvnb.models.cnn:SpectrogramCNN"', '"os:system"', "factory of the asvnb package"),
        ('"version": 1', '"version": 7', "not a version 1 detector card"),
        ('"name": "tiny CNN"', '"colour": "red"', "unknown fields"),
        ('"mode": "crop_or_pad"', '"mode": "loop"', "clip mode must be one of"),
    ]:
        assert old in text
        path.write_text(text.replace(old, new))
        with pytest.raises(DetectorCardError, match=why):
            read_card(best)
        with pytest.raises(scoring.ScoringError, match=why):
            scoring.load_detector(run)
    path.write_text("{not json")
    with pytest.raises(DetectorCardError, match="unreadable detector card"):
        read_card(best)
    path.write_text(text)
    torch.save({"weights": torch.zeros(1)}, best / "model.pt")
    with pytest.raises(
        scoring.ScoringError, match="cannot load the weights into asvnb.models.cnn:SpectrogramCNN"
    ):
        scoring.load_detector(run)
    with pytest.raises(DetectorCardError, match="threshold must be finite"):
        dev_threshold(math.inf)
    with pytest.raises(DetectorCardError, match="clip length must be a positive number"):
        crop_or_pad(0)
    with pytest.raises(DetectorCardError, match="no model.pt"):
        describe_detector(
            tmp_path, sample_rate=16000, frontend=waveform_frontend(), bonafide_class=0
        )
    with pytest.raises(DetectorCardError, match="cannot be saved in a detector card"):
        describe_detector(
            best,
            model={"factory": "asvnb.models.cnn:SpectrogramCNN", "kwargs": {"x": object()}},
            sample_rate=16000,
            frontend=waveform_frontend(),
            bonafide_class=0,
        )


def test_trainer_export_supplies_the_model_config(tmp_path):
    # a best/ folder as Trainer.export_best writes it: the card can take the network from asvnb_model.json
    from asvnb.models.cnn import SpectrogramCNN

    best = tmp_path / "best"
    best.mkdir()
    torch.save(SpectrogramCNN(**CNN_KW).state_dict(), best / "model.pt")
    (best / "asvnb_model.json").write_text(
        json.dumps({"model_config": model_config(SpectrogramCNN, **CNN_KW)})
    )
    describe_detector(
        best, sample_rate=16000, frontend=image_frontend(512, size=32), bonafide_class=0
    )
    det = scoring.load_detector(tmp_path, "cpu")
    assert isinstance(det.network, SpectrogramCNN) and det.threshold is None


def test_utt_ids_keep_paths_whole():
    assert scoring.utt_id("a b/c%d\te.wav") == "a%20b/c%25d%09e.wav"
    assert unquote(scoring.utt_id("a b/c%d\te.wav")) == "a b/c%d\te.wav"
    assert scoring.utt_id("plain/x.flac") == "plain/x.flac"


def test_help_text():
    proc = subprocess.run(
        [sys.executable, "-m", "asvnb.cli", "score", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert (
        "UTT SCORE DECISION" in text
        and "--threshold dev-eer|VALUE" in text
        and "RUN_OR_HUB_ID" in text
    )
