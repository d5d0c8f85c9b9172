"""The Appendix A.1 mixture generator: recipe by hand, proportions, ranges, silence guard, file formats, determinism."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asvnb.audio import AudioError
from asvnb.data import ProtocolError
from asvnb.data.asvspoof import CMTrial
from asvnb.data.mixtures import (
    generate,
    load_mixture_set,
    mix_sources,
    mixed_label,
    plan_mixtures,
    read_metadata,
)


def trials(n_spoof: int, n_bona: int) -> list[CMTrial]:
    return [CMTrial("LA_0001", f"LA_E_{i:07d}", "A07", "spoof") for i in range(n_spoof)] + [
        CMTrial("LA_0002", f"LA_E_{5000000 + i:07d}", "bonafide", "bonafide") for i in range(n_bona)
    ]


def write_sources(d: Path, ts: list[CMTrial], sr: int = 8000) -> None:
    rng = np.random.default_rng(0)
    d.mkdir(parents=True, exist_ok=True)
    for k, t in enumerate(ts):
        x = 0.3 * np.sin(2 * np.pi * (150 + 20 * k) * np.arange(int(sr * (0.5 + 0.1 * k))) / sr)
        sf.write(
            d / f"{t.utt}.flac",
            (x + 0.01 * rng.standard_normal(len(x))).astype(np.float32),
            sr,
            subtype="PCM_16",
        )


def test_mix_sources_by_hand():
    a1, a2 = np.array([0.5, 0.5, 0.5]), np.array([1.0, -1.0])
    mix, src, scale = mix_sources(a1, a2, delay=1, delayed=1, gain1=2.0, gain2=0.5)
    # a1 delayed: [0, .5, .5, .5] -> trimmed to 2: [0, .5] * 2 = [0, 1]; a2 * .5 = [.5, -.5]; sum [.5, .5]; peak .5
    assert scale == pytest.approx(2.0)
    np.testing.assert_allclose(mix, [1.0, 1.0])
    np.testing.assert_allclose(src, [[0.0, 2.0], [1.0, -1.0]])
    np.testing.assert_allclose(src.sum(0), mix)
    mix2, src2, _ = mix_sources(a1, a2, delay=2, delayed=2, gain1=1.0, gain2=1.0)
    # a2 delayed: [0, 0, 1, -1]; both trimmed to 3: [.5,.5,.5] + [0,0,1] = [.5,.5,1.5] / 1.5
    np.testing.assert_allclose(mix2, np.array([0.5, 0.5, 1.5]) / 1.5, rtol=1e-6)


def test_silent_pair_is_not_divided_by_zero():
    mix, src, scale = mix_sources(
        np.zeros(100), np.zeros(80), delay=10, delayed=2, gain1=1.1, gain2=0.9
    )
    assert (
        scale == 1.0 and np.all(np.isfinite(mix)) and not mix.any() and mix.shape == (90,)
    )  # 80 + 10 delayed < 100
    with pytest.raises(ValueError, match="delayed"):
        mix_sources(np.ones(3), np.ones(3), 0, 3, 1, 1)


def test_plan_proportions_ranges_and_distinct_pairs():
    plan = plan_mixtures(trials(60, 60), n=4000, seed=1)
    labs = np.array([m.mixed_label for m in plan])
    # binomial sd at n=4000: 0.8% (SB), 0.7% (SS/BB); 4 sd tolerance
    assert abs(np.mean(labs == "SB") - 0.5) < 0.032
    assert abs(np.mean(labs == "BB") - 0.25) < 0.028 and abs(np.mean(labs == "SS") - 0.25) < 0.028
    for m in plan:
        assert m.mixed_label == mixed_label(m.label1, m.label2)
        if m.mixed_label == "SB":  # the source always puts the spoof first
            assert (m.label1, m.label2) == ("spoof", "bonafide")
        assert (
            m.file1 != m.file2 and m.mixed_file == f"{Path(m.file1).stem}_{Path(m.file2).stem}.flac"
        )
    d = np.array([m.delay_s for m in plan])
    g = np.array([[m.gain1, m.gain2] for m in plan])
    assert d.min() >= 0 and d.max() < 1 and abs(d.mean() - 0.5) < 0.02
    assert g.min() >= 0.7 and g.max() < 1.3 and abs(g.mean() - 1.0) < 0.01
    assert abs(np.mean([m.delayed == 1 for m in plan]) - 0.5) < 0.032
    assert len({frozenset(m.utts) for m in plan}) == len(plan)


def test_plan_is_deterministic_and_checked():
    ts = trials(10, 10)
    assert plan_mixtures(ts, 50, seed=3) == plan_mixtures(ts, 50, seed=3)
    assert plan_mixtures(ts, 50, seed=3) != plan_mixtures(ts, 50, seed=4)
    with pytest.raises(ValueError, match="at least 2 spoof"):
        plan_mixtures(trials(1, 10), 5, 0)
    with pytest.raises(ValueError, match="distinct pairs"):  # 3 spoof + 3 bona fide give 15 pairs
        plan_mixtures(trials(3, 3), 40, 0)


def test_generate_files_metadata_and_resume(tmp_path):
    ts = trials(4, 4)
    write_sources(tmp_path / "src", ts, sr=8000)
    ms = generate(ts, tmp_path / "src", tmp_path / "mix", n=6, seed=0)
    lines = (tmp_path / "mix" / "metadata.txt").read_text().splitlines()
    assert len(lines) == 6
    pat = re.compile(
        r"^(LA_E_\d{7})_(LA_E_\d{7})\.flac (\1)\.flac (spoof|bonafide) (\2)\.flac (spoof|bonafide) (SS|SB|BB)$"
    )
    assert all(pat.match(line) for line in lines), lines
    assert [tuple(line.split()) for line in lines] == read_metadata(
        tmp_path / "mix" / "metadata.txt"
    )
    for i, m in enumerate(ms.mixtures):
        info = sf.info(str(ms.path(i)))
        assert info.samplerate == 8000 and info.format == "FLAC"  # the source rate, not 16 kHz
        mix = ms.load(i)
        src = ms.sources(i)
        assert src.shape == (2, len(mix))
        np.testing.assert_allclose(src.sum(0), mix, atol=2 / 2**15)  # 16-bit PCM
        assert np.max(np.abs(mix)) == pytest.approx(1.0, abs=2 / 2**15)
        a = sf.read(str(tmp_path / "src" / m.file1))[0]
        delay = int(8000 * m.delay_s)
        expected = a[: len(mix)] if m.delayed == 2 else np.pad(a, (delay, 0))[: len(mix)]
        scale = np.max(np.abs(src[0])) / np.max(np.abs(expected * m.gain1))
        np.testing.assert_allclose(src[0], expected * m.gain1 * scale, atol=1e-5)
    # reopening gives the same mixtures; an interrupted run renders only what is missing
    assert load_mixture_set(tmp_path / "mix", tmp_path / "src").mixtures == ms.mixtures
    mtimes = {p.name: p.stat().st_mtime_ns for p in ms.audio_dir.glob("*.flac")}
    ms.path(2).unlink()
    generate(ts, tmp_path / "src", tmp_path / "mix", n=6, seed=0)
    after = {p.name: p.stat().st_mtime_ns for p in ms.audio_dir.glob("*.flac")}
    assert set(after) == set(mtimes)
    assert [n for n in after if after[n] != mtimes.get(n)] == [ms.mixtures[2].mixed_file]
    # another plan in the same folder replaces the old files instead of mixing them in
    ms2 = generate(ts, tmp_path / "src", tmp_path / "mix", n=4, seed=9)
    assert sorted(p.name for p in ms.audio_dir.glob("*.flac")) == sorted(
        m.mixed_file for m in ms2.mixtures
    )


def test_bad_inputs_are_named(tmp_path):
    ts = trials(2, 2)
    write_sources(tmp_path / "src", ts[:3], sr=8000)
    sf.write(tmp_path / "src" / f"{ts[3].utt}.flac", np.zeros(4000, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="sampling rates do not match"):
        generate(ts, tmp_path / "src", tmp_path / "mix", n=5, seed=0)
    bad = tmp_path / "meta.txt"
    for text, msg in (
        (
            "a_b.flac a.flac spoof b.flac bonafide SB\na_c.flac a.flac spoof c.flac spoof SB\n",
            r"meta.txt:2: mixed label 'SB' does not match spoof \+ spoof",
        ),
        ("a_b.flac a.flac fake b.flac bonafide SB\n", r"meta.txt:1"),
    ):
        bad.write_text(text)
        with pytest.raises(ProtocolError, match=msg):
            read_metadata(bad)
