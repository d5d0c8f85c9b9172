"""Study 02's stand-ins and caches keep their names, draw what they drew, and models/ trains nothing (issue 13)."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import numpy as np

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
    "wavlm": "wavlm-standin-60402c7cf5f7",
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
    # the fine-tuning runs use files.run_dir (issue 13 renamed them from <streams>-seed<s>-<8 hex>)
    ft = study.finetune_dir(cfg, StreamCache(tmp_path, _Named(described["sepformer"])), 1)
    assert ft.relative_to(cfg.paths.out).as_posix() == (
        "finetune/sepformer-3c59eb915f77-766738f053/seed1"
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
