"""Study 02's stand-ins and caches keep their names, draw what they drew, and models/ trains nothing (issue 13)."""

from __future__ import annotations

import ast
import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asvnb.data.mixtures import DynamicMixtures
from asvnb.models.separation import Separator, SepformerStandinConfig, sepformer_hyperparams
from asvnb.models.wavlm import WavLMStandinConfig
from asvnb.studies import overlap_pipeline as study
from asvnb.studies.overlap_pipeline.separate_and_score import StreamCache
from asvnb.train import standins

MODELS = Path(__file__).resolve().parents[1] / "src" / "asvnb" / "models"

# The names below were observed before the refactor of issue 13 (the embedded corpus of fingerprint
# feb7f6ca58730297): the stand-ins and the separated streams are caches that take minutes to rebuild, and a
# cold build must train the very same stand-ins, so none of these may change by accident.
CORPUS = "feb7f6ca58730297"
STANDIN_DIRS = {
    "sepformer": "sepformer-standin-1aad4c0870ab",
    # changed on purpose once since: WavLMStandinConfig gained class_weighted (issue 29), a training setting
    "wavlm": "wavlm-standin-706d16e3c800",
}
STREAM_DIRS = {
    "oracle": "oracle-b04d1f00726d",
    "oracle@8k": "oracle_8k-9d06f1bf8969",
    "none": "none-129baa82c0c4",
    # the SepFormer stand-in's files hash to this source (SepformerSeparator.describe)
    "sepformer": "sepformer-3c59eb915f77",
}
SEPFORMER_SOURCE = "0614b333d8e92967"
HYPERPARAMS_SHA = "dad64e0164861cd4"  # its hyperparams.yaml, one of the hashed files


class _Named(Separator):
    def __init__(self, describe: dict):
        self.name, self._describe = describe["name"], describe

    def describe(self) -> dict:
        return self._describe

    def separate(self, mixtures, sources=None):  # pragma: no cover - never called
        raise NotImplementedError


def test_standin_and_stream_cache_names_are_unchanged(monkeypatch, tmp_path):
    # the names hash the settings below and the code (asvnb.provenance, tested in test_provenance): with the
    # code key held fixed, they pin the hashed settings
    from asvnb import files
    from asvnb.studies.overlap_pipeline import separate_and_score

    for module in (standins, files, separate_and_score):
        monkeypatch.setattr(module, "code_key", lambda *modules: "c0de")
    monkeypatch.setattr(standins.config, "data_fingerprint", lambda root: CORPUS)
    root = tmp_path / "embedded"
    assert (
        standins.standin_dir(root, "sepformer", SepformerStandinConfig()).name
        == (STANDIN_DIRS["sepformer"])
    )
    assert standins.standin_dir(root, "wavlm", WavLMStandinConfig()).name == STANDIN_DIRS["wavlm"]
    assert standins.standin_dir(root, "wavlm", WavLMStandinConfig()).parent == tmp_path / "models"
    cfg = study.OverlapConfig.for_profile("embedded", data_root=root)
    assert (cfg.sepformer_standin, cfg.detector_standin) == (standins.SEPFORMER, standins.WAVLM)
    sha = hashlib.sha256(sepformer_hyperparams(SepformerStandinConfig()).encode()).hexdigest()
    assert sha[:16] == HYPERPARAMS_SHA
    described = {
        "oracle": {"name": "oracle", "band_limit": None},
        "oracle@8k": {"name": "oracle@8k", "band_limit": 8000},
        "none": {"name": "none"},
        "sepformer": {"name": "sepformer", "source": SEPFORMER_SOURCE},
    }
    for name, d in described.items():
        assert StreamCache(tmp_path, _Named(d)).dir.name == STREAM_DIRS[name]
    # the fine-tuning runs use files.run_dir (issue 13 renamed them from <streams>-seed<s>-<8 hex>); their key
    # holds the detector stand-in's configuration, which issue 29 changed on purpose (the shipped release)
    ft = study.finetune_dir(cfg, StreamCache(tmp_path, _Named(described["sepformer"])), 1)
    assert ft.relative_to(cfg.paths.out).as_posix() == (
        "finetune/sepformer-3c59eb915f77-d5caaaa9a1/seed1"
    )


def test_models_import_no_training_and_no_metrics():
    # models/ holds nn.Modules: training them is asvnb.train.standins's, scoring them the metrics'
    found = []
    for path in sorted(MODELS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            bad = ("asvnb.train", "asvnb.metrics", "asvnb.studies")
            found += [f"{path.name}:{node.lineno} {n}" for n in names if n.startswith(bad)]
    assert not found, found


def test_epochs_reach_the_draws_as_before_the_one_protocol():
    """The trainer's 0-based epoch gives the draws the old counters gave: the stand-in WavLM's crops and study 02's
    shuffle used the 1-based epoch, the SepFormer's mixtures their own pass count from 0."""
    clips = standins.LabelledClips([np.arange(100.0)], [1], n=10, train=True, seed=3)
    clips.set_epoch(0)
    start = clips[0][0][0]
    assert start == np.random.default_rng((3, 1, 0)).integers(0, 91)
    shuffle = study.EpochShuffle(20, seed=5)
    shuffle.set_epoch(2)
    assert list(shuffle) == np.random.default_rng((5, 3)).permutation(20).tolist()
    waves = [np.random.default_rng(k).standard_normal(800).astype(np.float32) for k in range(3)]
    mixes = DynamicMixtures(waves, 2, 0.05, 8000, seed=7)
    first = [
        m.numpy() for m, _ in mixes
    ]  # no set_epoch yet: pass 0, as the validation set is drawn
    mixes.set_epoch(0)
    np.testing.assert_array_equal([m.numpy() for m, _ in mixes], first)
    mixes.set_epoch(1)
    assert not np.array_equal([m.numpy() for m, _ in mixes][0], first[0])


# ----------------------------------------------------------------------------- the shipped release (issue 29)


def _release(kind: str) -> dict:
    import json

    return json.loads((standins.shipped_dir(kind) / "release.json").read_text())


def _check_inputs(kind: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(standins.shipped_dir(kind) / "check.npz") as f:
        return f["x"], f["y"]


def test_the_releases_ship_their_card_log_curve_and_command_within_10_mb():
    total = 0
    for kind in standins.KINDS:
        d = standins.shipped_dir(kind)
        assert d.name == f"{kind}-{standins.RELEASES[kind]}"
        names = {p.name for p in d.iterdir()}
        need = {*standins.MODEL_FILES[kind], "CARD.md", "history.csv", "curve.png", "release.json"}
        assert need | {"check.npz", "standin.json"} <= names, need - names
        total += sum(p.stat().st_size for p in d.iterdir())
        rel = _release(kind)
        assert rel["release"] == standins.RELEASES[kind]
        assert rel["command"] == standins.RETRAIN_COMMAND
        assert rel["key"]["config"] == standins.standin_settings(standins.release_config(kind))
        card = (d / "CARD.md").read_text()
        assert standins.RETRAIN_COMMAND in card and rel["key"]["data"] in card
        assert f"release {standins.RELEASES[kind]}" in card
        history = pd.read_csv(d / "history.csv")
        assert len(history) == rel["training"]["config"]["epochs"]
        assert rel["training"]["best_epoch"] in history["epoch"].tolist()
    assert total <= standins.MAX_RELEASE_BYTES


def test_shipped_sepformer_loads_strictly_and_gives_its_recorded_figure(one_thread):
    import torch

    from asvnb.models.separation import SepformerNet, si_snr

    d, c = standins.shipped_dir("sepformer"), standins.SEPFORMER
    # the code's own architecture takes the weights with nothing missing and nothing left over
    net = SepformerNet(c)
    for part in ("encoder", "masknet", "decoder"):
        getattr(net, part).load_state_dict(torch.load(d / f"{part}.ckpt"), strict=True)
    assert (d / "hyperparams.yaml").read_text() == sepformer_hyperparams(c)
    assert _release("sepformer")["key"]["code"] == standins.architecture_key("sepformer", c)
    # the hub loader's model on the recorded validation mixtures gives the recorded figures
    x, y = _check_inputs("sepformer")
    got = standins.sepformer_figure(d, x, y)
    np.testing.assert_allclose(got, _release("sepformer")["check"]["per_item_si_snr_db"], atol=1e-3)
    # ... which are the SI-SNRs of its streams under the better permutation, computed here by hand
    est = net(torch.as_tensor(x[:2])).detach().numpy()
    for i in range(2):
        by_hand = max(
            (si_snr(est[i, :, a], y[i, :, 0]) + si_snr(est[i, :, 1 - a], y[i, :, 1])) / 2
            for a in (0, 1)
        )
        assert abs(by_hand - got[i]) < 0.05, (i, by_hand, got[i])


def test_shipped_wavlm_loads_strictly_and_gives_its_recorded_figure(one_thread):
    from safetensors.torch import load_file
    from transformers import WavLMForSequenceClassification

    from asvnb import metrics
    from asvnb.models import wavlm

    d, c = standins.shipped_dir("wavlm"), standins.WAVLM
    model = WavLMForSequenceClassification(wavlm.standin_config(c))
    model.load_state_dict(load_file(str(d / "model.safetensors")), strict=True)
    assert _release("wavlm")["key"]["code"] == standins.architecture_key("wavlm", c)
    x, y = _check_inputs("wavlm")
    assert sorted(np.bincount(y).tolist()) == [standins.CHECK_ITEMS] * 2
    scores, e = standins.wavlm_figure(d, x, y)
    rec = _release("wavlm")["check"]
    np.testing.assert_allclose(scores, rec["scores"], atol=1e-3)
    assert e == pytest.approx(rec["eer"], abs=1e-9)
    # the EER by hand: the threshold sweep over the recorded scores (bona fide = label 0, higher scores)
    s = np.asarray(rec["scores"])
    best = min(
        max(np.mean(s[y == 0] < t), np.mean(s[y == 1] >= t)) for t in np.concatenate([s, [np.inf]])
    )
    assert best == pytest.approx(metrics.eer(s[y == 0], s[y == 1])[0], abs=1 / standins.CHECK_ITEMS)


def test_a_stale_release_is_an_error_naming_the_command(monkeypatch, la2019_root):
    kind = "wavlm"
    recorded = _release(kind)["key"]
    # another corpus's LA train/dev (the adapter tests' replica): the data the weights were trained on differ
    with pytest.raises(standins.StaleStandinError, match="speech it was trained") as e:
        standins.shipped_standin(kind, la2019_root)
    assert standins.RETRAIN_COMMAND in str(e.value)
    monkeypatch.setattr(standins, "read_fingerprint", lambda root, kind: recorded["data"])
    assert standins.shipped_standin(kind, la2019_root) == standins.shipped_dir(kind)
    with pytest.raises(standins.StaleStandinError, match="configuration") as e:
        standins.shipped_standin(kind, la2019_root, replace(standins.WAVLM, epochs=1))
    assert standins.RETRAIN_COMMAND in str(e.value)
    # an architecture the code builds differently (here: a wider transformer) is a mismatch too
    wider = replace(standins.WAVLM, hidden=96)
    assert standins.architecture_key(kind, wider) != recorded["code"]
    monkeypatch.setattr(standins, "architecture_key", lambda kind, c: "0ther")
    with pytest.raises(standins.StaleStandinError, match="architecture") as e:
        standins.shipped_standin(kind, la2019_root)
    assert standins.RETRAIN_COMMAND in str(e.value)


def test_the_book_configuration_loads_the_release_and_other_ones_train(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(
        standins, "shipped_standin", lambda kind, root, c: calls.append(("ship", kind))
    )
    monkeypatch.setattr(
        standins, "train_standin", lambda kind, root, c, p: calls.append(("train", kind))
    )
    standins.sepformer_standin(tmp_path, standins.SEPFORMER)
    standins.wavlm_standin(tmp_path, standins.WAVLM)
    standins.sepformer_standin(tmp_path, standins.CI_SEPFORMER)
    standins.wavlm_standin(tmp_path, standins.CI_WAVLM)
    assert calls == [
        ("ship", "sepformer"),
        ("ship", "wavlm"),
        ("train", "sepformer"),
        ("train", "wavlm"),
    ]
    with pytest.raises(ValueError, match="unknown stand-in"):
        standins.shipped_dir("convtasnet")


def test_the_separator_warms_up_then_decays_its_learning_rate():
    c = replace(
        SepformerStandinConfig(),
        lr_schedule="cosine",
        warmup_steps=10,
        steps_per_epoch=10,
        epochs=10,
    )
    f = standins.sepformer_lr_factor(c)
    assert [f(s) for s in (0, 5, 10, 55, 100)] == pytest.approx([0.05, 0.525, 1.0, 0.525, 0.05])
    assert standins.sepformer_lr_factor(SepformerStandinConfig()) is None  # the default: constant
    with pytest.raises(ValueError, match="unknown lr_schedule"):
        standins.sepformer_lr_factor(replace(c, lr_schedule="step"))


def test_class_weights_are_inverse_frequencies():
    np.testing.assert_allclose(standins.class_weights([0, 1, 1, 1]), [2.0, 2 / 3])
    with pytest.raises(ValueError, match="every class"):
        standins.class_weights([1, 1])


@pytest.mark.embedded
def test_the_releases_match_the_books_corpus_and_their_dev_figures(one_thread):
    """On the book's corpus: the releases' keys hold, and the dev figures recompute on the whole validation sets."""
    from asvnb import config

    root = config.embedded_root()
    for kind in standins.KINDS:
        assert standins.shipped_standin(kind, root) == standins.shipped_dir(kind)
    c = standins.SEPFORMER
    x, y = standins.sepformer_check_inputs(root, c)
    dev = _release("sepformer")["dev_figure"]
    fig = standins.sepformer_figure(standins.shipped_dir("sepformer"), x, y)
    assert (len(fig), float(fig.mean())) == (dev["n"], pytest.approx(dev["value"], abs=1e-3))
    x, y = standins.wavlm_check_inputs(root, standins.WAVLM)
    dev = _release("wavlm")["dev_figure"]
    _, e = standins.wavlm_figure(standins.shipped_dir("wavlm"), x, y)
    assert (len(y), e) == (dev["n"], pytest.approx(dev["value"], abs=1e-3))


def test_asvnb_data_standins_stops_with_the_retrain_command_on_another_corpus(
    monkeypatch, la2019_root, capsys
):
    from asvnb import cli

    monkeypatch.setattr(cli.config, "embedded_root", lambda: la2019_root)
    assert cli.main(["data", "standins"]) == 1
    err = capsys.readouterr().err
    assert standins.RETRAIN_COMMAND in err and "speech it was trained" in err


def test_the_detector_encoder_kernels_are_configuration_left_out_of_keys_at_their_defaults():
    from asvnb.models import wavlm

    base = wavlm.WavLMStandinConfig()
    # WavLM Base's encoder by default: seven convolutions, 320 samples (20 ms) per frame, 400 of receptive field
    conf = wavlm.standin_config(base)
    assert list(conf.conv_kernel) == [10, 3, 3, 3, 3, 2, 2]
    assert list(conf.conv_stride) == [5, 2, 2, 2, 2, 2, 2]
    assert wavlm.min_samples(conf) == 400
    assert "conv_kernels" not in standins.standin_settings(
        base
    )  # the shipped v1's keys stay as they were
    bank = replace(base, conv_channels=8, conv_kernels=(400, 3, 3), conv_strides=(160, 2, 1))
    conf = wavlm.standin_config(bank)
    assert list(conf.conv_dim) == [8, 8, 8] and conf.num_feat_extract_layers == 3
    assert wavlm.min_samples(conf) == 400 + 2 * 160 + 2 * 320  # 1,360 samples: hand-computed
    assert standins.standin_settings(bank)["conv_kernels"] == (400, 3, 3)
    with pytest.raises(ValueError, match="3 conv_kernels but 2 conv_strides"):
        replace(base, conv_kernels=(400, 3, 3), conv_strides=(160, 2))
