"""Separation + detection: PIT matching and loss by hand, the stream cache, metrics of a hand-built case."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from transformers import Wav2Vec2FeatureExtractor

from asvnb.data.mixtures import Mixture, MixtureSet, mixed_label
from asvnb.models.separation import NoSeparation
from asvnb.studies.overlap_pipeline.separate_and_score import (
    StreamCache,
    StreamPairs,
    assemble,
    ensure_streams,
    mixture_label,
    pit_ce,
    pit_match,
    random_control,
    run_pipeline,
    source_match,
    stream_logits,
)


def mixture(u1: str, l1: str, u2: str, l2: str, gain1: float = 1.0) -> Mixture:
    return Mixture(
        f"{u1}_{u2}.flac",
        f"{u1}.flac",
        l1,
        f"{u2}.flac",
        l2,
        mixed_label(l1, l2),
        1,
        0.25,
        gain1,
        0.9,
    )


class MeanAbsDetector(nn.Module):
    """P(spoof) = mean |x| over the unpadded samples: streams of constant value p score p."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, input_values, attention_mask=None, **_):
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_values)
        p = (input_values.abs() * mask).sum(1) / mask.sum(1)
        return SimpleNamespace(
            logits=torch.stack([torch.zeros_like(p), torch.log(p / (1 - p))], dim=1) + self.dummy
        )


class Counting(NoSeparation):
    """A separator that records every call."""

    def __init__(self):
        self.calls: list[list[int]] = []

    def separate(self, mixtures, sources=None):
        self.calls.append([len(m) for m in mixtures])
        return super().separate(mixtures, sources)


def test_pit_match_by_hand():
    p = np.array([[0.2, 0.9], [0.6, 0.1], [0.7, 0.8], [0.5, 0.5]])
    y = np.array([[1, 0], [0, 0], [1, 1], [1, 0]])
    # row 0: same 0.8 + 0.9 = 1.7 > swapped 0.1 + 0.2 = 0.3; rows 1-3: ties (0.7, 0.5, 1.0 either way) keep the order
    np.testing.assert_array_equal(pit_match(p, y), [1, 0, 0, 0])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        pit_match(p[:, :1], y[:, :1])
    assert [mixture_label(x) for x in ([0, 0], [1, 0], [0, 1], [1, 1])] == ["BB", "SB", "SB", "SS"]


def test_pit_ce_by_hand():
    logits = torch.tensor(
        [[[2.0, 0.0], [0.0, 2.0]]]
    )  # stream 1 says bona fide, stream 2 says spoof
    best, perm = pit_ce(logits, torch.tensor([[1, 0]]))  # labels: spoof, bona fide -> the swap fits
    assert perm.tolist() == [1]
    assert float(best) == pytest.approx(math.log(1 + math.exp(-2)))
    best, perm = pit_ce(logits, torch.tensor([[0, 1]]))
    assert perm.tolist() == [0] and float(best) == pytest.approx(math.log(1 + math.exp(-2)))
    best, perm = pit_ce(logits, torch.tensor([[1, 1]]))  # both permutations equal: identity
    assert perm.tolist() == [0] and float(best) == pytest.approx(
        (math.log(1 + math.exp(2)) + math.log(1 + math.exp(-2))) / 2
    )


def test_stream_cache_and_ensure_streams(tmp_path):
    a, b = (
        mixture("LA_E_1", "spoof", "LA_E_2", "bonafide"),
        mixture("LA_E_1", "spoof", "LA_E_2", "bonafide", gain1=1.2),
    )
    sep = Counting()
    cache = StreamCache(tmp_path, sep)
    assert (
        cache.path(a) != cache.path(b) and cache.path(a).parent == cache.dir
    )  # same name, other recipe
    s = np.stack([np.linspace(-1, 1, 50), np.linspace(1, -1, 50)]).astype(np.float32)
    cache.save(a, s)
    np.testing.assert_allclose(cache.load(a), s, atol=1e-3)  # float16 on disk
    assert not list(cache.dir.glob("*.part"))
    np.save(cache.path(b), np.zeros(5))
    with pytest.raises(ValueError, match=r"\(2, T\)"):
        cache.load(b)

    # ensure_streams over a mixture set: every mixture once, batched by length; then nothing more
    ms = MixtureSet(
        tmp_path / "ms",
        [mixture(f"LA_E_{i}", "spoof", f"LA_E_{i + 10}", "bonafide") for i in range(5)],
        tmp_path,
    )
    lengths = [900, 300, 700, 100, 500]
    ms.load = lambda i, sr=None: np.full(lengths[i], 0.1 * (i + 1), dtype=np.float32)
    assert ensure_streams(sep, ms, cache, batch_size=2) == 5
    assert sep.calls == [[100, 300], [500, 700], [900]]
    assert ensure_streams(sep, ms, cache, batch_size=2) == 0 and len(sep.calls) == 3
    cache.path(ms.mixtures[3]).unlink()  # as if a run had been killed before writing it
    assert ensure_streams(sep, ms, cache, batch_size=2) == 1 and sep.calls[-1] == [100]
    np.testing.assert_allclose(cache.load(ms.mixtures[2]), np.full((2, 700), 0.3), atol=1e-3)


def test_run_pipeline_hand_case(tmp_path):
    ms = MixtureSet(
        tmp_path,
        [
            mixture("LA_E_1", "spoof", "LA_E_2", "bonafide"),
            mixture("LA_E_3", "bonafide", "LA_E_4", "bonafide"),
            mixture("LA_E_5", "spoof", "LA_E_6", "spoof"),
        ],
        tmp_path,
    )
    cache = StreamCache(tmp_path / "cache", NoSeparation())
    for m, (p1, p2), n in zip(ms.mixtures, [(0.2, 0.9), (0.6, 0.1), (0.7, 0.8)], (400, 300, 500)):
        cache.save(m, np.stack([np.full(n, p1), np.full(n, p2)]))
    fe = Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        padding_value=0.0,
        do_normalize=False,
        return_attention_mask=True,
    )
    logits = stream_logits(ms, cache, fe, MeanAbsDetector(), batch_size=2)
    res = run_pipeline(ms, cache, logits, matching="labels")
    assert res.mixed_true == ["SB", "BB", "SS"] and res.mixed_pred == ["SB", "SB", "SS"]
    np.testing.assert_allclose(
        res.p_spoof, [[0.9, 0.2], [0.6, 0.1], [0.7, 0.8]], atol=1e-3
    )  # first one swapped
    rep = res.stream_report()
    assert rep["accuracy"] == pytest.approx(5 / 6) and rep["precision"] == pytest.approx(3 / 4)
    assert rep["recall"] == 1.0 and rep["eer"] == 0.0
    assert res.mixture_report()["accuracy"] == pytest.approx(2 / 3)
    cache.path(ms.mixtures[1]).unlink()
    with pytest.raises(FileNotFoundError, match="no cached streams"):
        StreamPairs(ms, cache)


def test_source_match_by_si_snr():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(4000), rng.standard_normal(4000)
    sources = np.stack([a, b])
    assert source_match(np.stack([a + 0.3 * b, b + 0.2 * a]), sources) == 0
    assert source_match(np.stack([0.5 * b + 0.1 * a, 2 * a]), sources) == 1  # scale does not matter
    assert (
        source_match(np.stack([a + b, a + b]), sources) == 0
    )  # no separation: a tie keeps the order
    assert (
        source_match(np.stack([b[:3900], a[:3900]]), sources) == 1
    )  # streams may be shorter than the sources


def test_label_matching_flatters_a_detector_that_knows_nothing(tmp_path):
    """Random scores: matching by sources gives stream EER near 0.5; the source's label matching gives much less."""
    from asvnb.data.mixtures import LABELS

    rng = np.random.default_rng(1)
    pairs = [("spoof", "spoof"), ("spoof", "bonafide"), ("bonafide", "bonafide")]
    ms = MixtureSet(
        tmp_path,
        [
            mixture(f"LA_E_{2 * i}", pairs[i % 3][0], f"LA_E_{2 * i + 1}", pairs[i % 3][1])
            for i in range(900)
        ],
        tmp_path,
    )
    assert set(m.mixed_label for m in ms.mixtures) == set(LABELS)
    fair = random_control(
        ms, "sources", source_swap=rng.integers(0, 2, len(ms)), seed=3
    ).stream_report()
    flattered = random_control(ms, "labels", seed=3).stream_report()
    assert abs(fair["eer"] - 0.5) < 0.04 and abs(fair["accuracy"] - 0.5) < 0.04
    assert flattered["eer"] < 0.45 and flattered["accuracy"] > 0.55
    with pytest.raises(ValueError, match="needs source_swap"):
        assemble(ms, np.zeros((len(ms), 2, 2)), "sources")
    with pytest.raises(ValueError, match="unknown matching 'oracle'"):
        assemble(ms, np.zeros((len(ms), 2, 2)), "oracle")
