"""Study 02 end to end on a miniature LA replica: profiles, stand-ins, the stream cache reused by fine-tuning, resume."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from replicas import write_la2019_cm

from asvnb.config import Paths
from asvnb.models import separation, wavlm
from asvnb.studies import overlap_pipeline as study
from asvnb.studies.overlap_pipeline.separate_and_score import (
    StreamCache,
    ensure_streams,
    run_pipeline,
    stream_logits,
)


def write_la(root: Path, n: int = 6, sr: int = 16000) -> Path:
    """LA layout with n bona fide (harmonic tones) and n spoof (the same plus noise) utterances per split."""
    rng = np.random.default_rng(0)
    trials, audio = {}, {}
    for split, letter in (("train", "T"), ("dev", "D"), ("eval", "E")):
        trials[split] = []
        for k in range(2 * n):
            utt, spoof = f"LA_{letter}_{1000000 + k}", k % 2 == 1
            t = np.arange(int(sr * rng.uniform(0.6, 1.0))) / sr
            x = (
                sum(np.sin(2 * np.pi * rng.uniform(100, 250) * h * t) / h for h in range(1, 5))
                * 0.2
            )
            x = x + (0.05 * rng.standard_normal(len(t)) if spoof else 0)
            audio[utt] = x.astype(np.float32)
            trials[split].append(
                (f"LA_000{k % 3}", utt, "A01" if spoof else "-", "spoof" if spoof else "bonafide")
            )
    write_la2019_cm(root, trials, audio, sr)
    return root


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = write_la(tmp_path_factory.mktemp("data") / "embedded")
    cfg = study.OverlapConfig.for_profile(
        "embedded",
        data_root=root,
        epochs=2,
        n_mixtures={"train": 4, "dev": 2, "eval": 6},
        batch_size=1,
        separators=("sepformer", "oracle", "none"),
        max_seconds=1.0,
        sepformer_standin=separation.SepformerStandinConfig(
            channels=16, ffn=32, heads=2, steps_per_epoch=2, epochs=1, batch=2, seconds=0.5
        ),
        detector_standin=wavlm.WavLMStandinConfig(
            conv_channels=8, hidden=16, heads=2, ffn=32, epochs=1, batch=4, seconds=1.0
        ),
    )
    cfg = replace(cfg, paths=Paths(root, tmp_path_factory.mktemp("runs")))
    return cfg, study.make_mixtures(cfg), study.detector_source(cfg, progress=False)


def test_standin_info_names_a_broken_file(tmp_path):
    assert study.standin_info(tmp_path) == {}  # a hub model has none
    (tmp_path / "standin.json").write_text("{steps: 3")
    with pytest.raises(ValueError, match=r"standin.json: not valid JSON"):
        study.standin_info(tmp_path)
    (tmp_path / "standin.json").write_text("[3]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        study.standin_info(tmp_path)


def test_profiles():
    full = study.OverlapConfig.for_profile("full", data_root="/nowhere")
    assert (
        full.n_mixtures,
        full.epochs,
        full.lr,
        full.last_epoch_lr,
        full.grad_accum,
        full.max_grad_norm,
    ) == (
        {"train": 2500, "dev": 1000, "eval": 4000},
        6,
        1e-6,
        3e-4,
        2,
        1.0,
    )  # the mixtures: the book's GPU budget
    src = study.OverlapConfig.source_settings("/nowhere")
    assert src.n_mixtures == {"train": 15000, "dev": 10000, "eval": 10000} and src.profile == "full"
    assert (src.epochs, src.lr, src.separators) == (full.epochs, full.lr, full.separators)
    assert study.sepformer_source(full) == "speechbrain/sepformer-wsj02mix"
    assert study.detector_source(full) == "abhishtagatya/wavlm-base-960h-asv19-deepfake"
    assert "convtasnet" in full.separators and not full.freeze_feature_encoder
    with pytest.raises(ValueError, match="data_root"):
        study.OverlapConfig.for_profile("full")
    assert study.OverlapConfig.for_profile("embedded", epochs=3).epochs == 3


def test_standins_are_cached_and_loaded_like_hub_models(setup):
    cfg, mixes, det_dir = setup
    assert Path(det_dir).parent == cfg.models_dir and (Path(det_dir) / "config.json").is_file()
    assert study.detector_source(cfg) == det_dir  # found, not retrained
    fe, model = wavlm.load_detector(det_dir)
    assert model.config.id2label == {0: "bonafide", 1: "spoof"}
    sep_dir = study.sepformer_source(cfg, progress=False)
    mtime = (Path(sep_dir) / "masknet.ckpt").stat().st_mtime_ns
    assert (
        study.sepformer_source(cfg) == sep_dir
        and (Path(sep_dir) / "masknet.ckpt").stat().st_mtime_ns == mtime
    )
    assert study.ensure_standins(cfg) == {
        "sepformer": sep_dir,
        "detector": det_dir,
    }  # what `asvnb data standins` runs
    assert (Path(sep_dir) / "masknet.ckpt").stat().st_mtime_ns == mtime
    assert study.standin_info(sep_dir)["steps"] == 2 * 1  # steps_per_epoch x epochs
    assert (
        study.standin_info(det_dir)["steps"] == 3 * 1
    )  # 12 train utterances in batches of 4, one epoch
    assert sum(len(m) for m in mixes.values()) == 12
    clean = study.clean_eval(cfg, fe, model)
    # the eval protocol in its order, bona fide (0) and spoof (1) in turn; EER: metrics.eer on these scores
    assert clean["n"] == 12 and clean["labels"].tolist() == [0, 1] * 6
    assert clean["scores"].shape == (12,) and np.isfinite(clean["scores"]).all()


def test_cache_reused_by_finetuning_and_interrupted_run_resumes(setup, monkeypatch):
    cfg, mixes, det_dir = setup
    seps = study.make_separators(cfg)
    calls = []
    sep = seps["sepformer"]
    original = sep.separate
    monkeypatch.setattr(sep, "separate", lambda m, s=None: calls.append(len(m)) or original(m, s))
    cache = StreamCache(cfg.paths.out / "streams", sep)
    for split in study.SPLITS:
        ensure_streams(sep, mixes[split], cache, batch_size=cfg.sep_batch)
    assert sum(calls) == 12
    n_calls = len(calls)

    def forbidden(*_a, **_k):
        raise AssertionError("the separator was called during fine-tuning")

    monkeypatch.setattr(sep, "separate", forbidden)
    interrupted = study.finetune(
        cfg, det_dir, mixes["train"], mixes["dev"], cache, seed=0, stop_after=1, progress=False
    )
    assert len(interrupted.history) == 1
    resumed = study.finetune(
        cfg, det_dir, mixes["train"], mixes["dev"], cache, seed=0, progress=False
    )
    assert resumed.resumed_from == 1 and list(resumed.history["epoch"]) == [1, 2]
    assert (
        ensure_streams(sep, mixes["train"], cache) == 0 and len(calls) == n_calls
    )  # a later run: all cached
    # an uninterrupted run elsewhere ends where the resumed one ended
    other = replace(cfg, paths=Paths(cfg.paths.data, cfg.paths.out / "other"))
    straight = study.finetune(
        other, det_dir, mixes["train"], mixes["dev"], cache, seed=0, progress=False
    )
    cols = ["train_loss", "val_loss", "val_acc", "lr"]
    np.testing.assert_allclose(
        straight.history[cols].to_numpy(), resumed.history[cols].to_numpy(), rtol=1e-5
    )
    assert resumed.history["lr"].iloc[0] > 0
    # the exported best model loads like the hub model and runs in the pipeline
    fe, model = wavlm.load_detector(str(resumed.best_dir))
    logits = stream_logits(mixes["eval"], cache, fe, model, max_samples=cfg.max_samples)
    res = run_pipeline(mixes["eval"], cache, logits)
    assert len(res.mixed_pred) == 6 and set(res.mixed_pred) <= {"SS", "SB", "BB"}
    rep = res.stream_report()
    assert rep["n"] == 12 and np.isfinite(rep["eer"])


def test_last_epoch_restarts_at_its_raised_rate():
    """Linear decay to 0 over epochs 1-2 (4 steps each), then epoch 3 starts at 3e-4 / 1e-4 = 3 and decays to 0."""
    cfg = replace(
        study.OverlapConfig.for_profile("embedded"), epochs=3, lr=1e-4, last_epoch_lr=3e-4
    )
    f = study.lr_factor(cfg, steps_per_epoch=4)
    np.testing.assert_allclose(
        [f(k) for k in range(13)],
        [1, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8, 3, 9 / 4, 6 / 4, 3 / 4, 0],
    )
    plain = study.lr_factor(replace(cfg, last_epoch_lr=None), steps_per_epoch=4)
    np.testing.assert_allclose([plain(k) for k in (0, 6, 12)], [1, 0.5, 0])


def test_embedded_fine_tuning_makes_at_least_300_steps_on_1000_eval_mixtures():
    cfg = study.OverlapConfig.for_profile("embedded")
    steps = -(-cfg.n_mixtures["train"] // cfg.batch_size // cfg.grad_accum) * cfg.epochs
    assert steps >= 300 and cfg.n_mixtures["eval"] >= 1000


def test_si_snr_table_orders_oracle_above_none(setup):
    cfg, mixes, _ = setup
    caches = {}
    for name in ("oracle", "none"):
        sep = separation.make_separator(name)
        caches[name] = StreamCache(cfg.paths.out / "streams", sep)
        ensure_streams(sep, mixes["eval"], caches[name])
    t = study.si_snr_table(mixes["eval"], caches, 3).set_index("separator")
    assert t.loc["none", "mean"] == pytest.approx(0.0, abs=1e-2)  # the mixture as its own estimate
    assert t.loc["oracle", "mean"] > 40 and list(t["count"]) == [3, 3]


def test_ordering_sentence_follows_the_intervals():
    from asvnb.results import ResultRow

    def row(system: str, v: float, lo: float, hi: float) -> ResultRow:
        return ResultRow("pipeline", system, "LA19 eval mixtures", "stream_eer", v, ci95=(lo, hi))

    text = study.ordering_sentence(
        [
            row("none, pre-trained", 0.45, 0.42, 0.48),
            row("sepformer, pre-trained", 0.30, 0.27, 0.33),
            row("oracle, pre-trained", 0.29, 0.26, 0.32),
            row("oracle@8k, pre-trained", 0.2, 0.18, 0.22),
        ]
    )
    assert "oracle, pre-trained 29.0% [26.0%, 32.0%] is not distinguishable from sepformer" in text
    assert "sepformer, pre-trained 30.0% [27.0%, 33.0%] is below none" in text
    assert "oracle, pre-trained 29.0% [26.0%, 32.0%] is above oracle@8k" in text
    assert "fine-tuned" not in text


def _pipeline(scores: np.ndarray, labels: np.ndarray) -> study.PipelineResult:
    """A pipeline result whose CM scores are ``scores`` (logits [score, 0]: bona fide minus spoof)."""
    logits = np.stack([scores, np.zeros_like(scores)], axis=-1)
    mixed = ["SS" if a + b == 2 else "BB" if a + b == 0 else "SB" for a, b in labels]
    return study.PipelineResult(mixed, mixed, labels, logits)


def test_difference_rows_are_paired_differences_of_stream_eer():
    from asvnb.metrics import eer

    rng = np.random.default_rng(0)
    n = 40
    labels = np.stack([rng.integers(0, 2, n), rng.integers(0, 2, n)], axis=1)
    labels[:3] = [[0, 0], [1, 1], [0, 1]]  # every mixture label is there
    sign = 1 - 2 * labels  # bona fide (0) high
    good = sign * 2.0 + rng.normal(0, 1, (n, 2))
    bad = sign * 0.5 + rng.normal(0, 1, (n, 2))
    pre = study.Pretrained(
        {"sepformer": _pipeline(good, labels), "none": _pipeline(bad, labels)}, {}, None, {}
    )
    post = [_pipeline(good + 0.1 * k, labels) for k in range(3)]

    def stream_eer(s: np.ndarray) -> float:
        y, x = labels.reshape(-1), s.reshape(-1)
        return eer(x[y == 0], x[y == 1])[0]

    utts = [(f"a{i}", f"b{i}") for i in range(n)]
    clean_scores = sign * 3.0 + rng.normal(0, 1, (n, 2))
    clean = {
        "utts": [u for pair in utts for u in pair][
            :-2
        ],  # the last mixture's sources were not scored
        "scores": clean_scores.reshape(-1)[:-2],
    }
    rows = {r.system: r for r in study.difference_rows(clean, pre, post, utts, reps=200)}
    d = rows["sepformer minus none, pre-trained"]
    assert d.value == pytest.approx(stream_eer(good) - stream_eer(bad))
    assert d.table == "difference" and d.n_trials == 2 * n and d.ci95[0] <= d.value <= d.ci95[1]
    ft = rows["fine-tuned minus pre-trained, sepformer"]
    want = np.mean([stream_eer(good + 0.1 * k) for k in range(3)]) - stream_eer(good)
    assert ft.value == pytest.approx(want) and ft.n_seeds == 3
    assert "oracle minus sepformer, pre-trained" not in rows  # no oracle here
    # the best real stream result against clean speech, on the mixtures whose sources were both scored
    best = min(
        ("sepformer, pre-trained", stream_eer(good)),
        ("none, pre-trained", stream_eer(bad)),
        ("sepformer, fine-tuned", want + stream_eer(good)),
        key=lambda t: t[1],
    )[0]
    c = rows[f"{best} minus clean"]
    y, x = labels[:-1].reshape(-1), clean_scores[:-1].reshape(-1)
    assert c.n_trials == 2 * (n - 1)
    if best == "sepformer, pre-trained":
        g = good[:-1].reshape(-1)
        assert c.value == pytest.approx(eer(g[y == 0], g[y == 1])[0] - eer(x[y == 0], x[y == 1])[0])
    with pytest.raises(ValueError, match="source pairs"):
        study.difference_rows(clean, pre, post, utts[:-1])


def test_difference_sentences_read_the_intervals():
    from asvnb.results import ResultRow

    def row(system: str, v: float, lo: float, hi: float) -> ResultRow:
        return ResultRow("difference", system, "LA19 eval mixtures", "stream_eer", v, ci95=(lo, hi))

    text = study.difference_sentences(
        [
            row("fine-tuned minus pre-trained, sepformer", -0.03, -0.05, -0.01),
            row("sepformer minus none, pre-trained", 0.02, 0.01, 0.03),
            row("oracle minus sepformer, pre-trained", -0.01, -0.03, 0.01),
            row("sepformer, fine-tuned minus clean", 0.10, 0.08, 0.12),
        ]
    ).splitlines()
    assert "-0.030 [-0.050, -0.010]" in text[0] and "**reproduces**" in text[0]
    assert "**contradicts**" in text[1]
    assert "**cannot tell**" in text[2]
    assert "overlap costs" in text[3] and "**reproduces**" in text[3]


def _quality_record() -> dict:
    iv = lambda v, lo, hi: {"value": v, "ci95": [lo, hi]}  # noqa: E731
    side = lambda s, c: {"all": {"mean_score": s, "called_spoof": c}}  # noqa: E731
    summ = lambda eer, si, own, other: {  # noqa: E731
        "stream_eer": eer,
        "si_snri_db": si,
        "mean_si_snr_db": own,
        "mean_leak_si_snr_db": other,
    }
    return {
        "fingerprint": {"git_commit": "0123456789abcdef"},
        "n_mixtures": 1000,
        "summary": {
            "v1": summ(0.285, 2.24, 1.85, -8.75),
            "v2": summ(0.315, 3.29, 2.83, -9.22),
            "oracle": summ(0.2075, None, 73.7, -46.6),
        },
        "per_class": {
            "v1": {"bonafide": side(1.48, 0.441), "spoof": side(-5.57, 0.845)},
            "v2": {"bonafide": side(2.76, 0.358), "spoof": side(-2.75, 0.741)},
            "oracle": {"bonafide": side(4.39, 0.136), "spoof": side(-3.54, 0.755)},
        },
        "bootstrap": {
            "stream_eer v2 minus v1": iv(0.030, 0.004, 0.052),
            "bonafide called_spoof v2 minus v1": iv(-0.083, -0.111, -0.059),
            "spoof called_spoof v2 minus v1": iv(-0.105, -0.132, -0.077),
        },
        "tests": {
            "v2_minus_v1_per_stream": {
                "bonafide": {"spearman_shift_vs_gain": -0.08},
                "spoof": {"spearman_shift_vs_gain": -0.09},
            },
            "crossed_eer": {"bonafide v1, spoof v2": 0.387, "bonafide v2, spoof v1": 0.2095},
            "per_attack": {
                "A09": {
                    "oracle": {"mean_score": 2.53},
                    "v1": {"mean_score": -6.26},
                    "v2": {"mean_score": 3.27},
                }
            },
            "attack_groups": {
                "missed_on_clean": ["A09", "A15", "A18"],
                "missed": {
                    "n_spoof_streams": 206,
                    "eer": {"oracle": 0.544},
                    "v2_minus_v1": iv(0.118, 0.071, 0.158),
                },
                "caught": {
                    "n_spoof_streams": 797,
                    "eer": {"oracle": 0.106},
                    "v2_minus_v1": iv(0.015, -0.010, 0.039),
                },
            },
        },
    }


def test_the_stream_quality_record_as_table_rows_and_sentences(tmp_path) -> None:
    path = tmp_path / "stream_quality.json"
    assert study.load_stream_quality(path) is None  # not measured there
    path.write_text(json.dumps(_quality_record()))
    got = study.load_stream_quality(path)
    table = study.stream_quality_table(got)
    assert list(table.index) == ["v1", "v2", "oracle"]  # separators the record lacks are left out
    assert (
        table.loc["v2", "SI-SNRi (dB)"] == 3.29 and table.loc["v1", "spoof: called spoof"] == 0.845
    )
    assert table.loc["oracle", "SI-SNR own / other (dB)"] == "73.7 / -46.6"
    rows = study.stream_quality_rows(got)
    assert {r.table for r in rows} == {"stream quality"} and len(rows) == 5
    key = ("stream quality", "v2 minus v1, attacks missed on clean speech", "LA19 eval mixtures")
    r = next(r for r in rows if r.key() == (*key, "stream_eer"))
    assert (r.value, r.ci95, r.n_trials) == (0.118, (0.071, 0.158), 1000)
    assert "0123456789" in r.note
    text = study.stream_quality_text(got)
    assert "v2 minus v1 is +0.030 [+0.004, +0.052], an interval that excludes 0" in text
    assert "smaller share of them spoofed than v1 (-0.083 [-0.111, -0.059])" in text
    assert "v1's bona fide streams with v2's spoofed ones give 0.387" in text
    assert "On their 206 spoofed streams v2 minus v1 is +0.118 [+0.071, +0.158]" in text
    assert "A09: mean score +2.53 on the true source, -6.26 after v1, +3.27 after v2" in text
    # an interval across 0 is read as such
    rec = _quality_record()
    rec["bootstrap"]["stream_eer v2 minus v1"] = {"value": 0.01, "ci95": [-0.01, 0.03]}
    assert "an interval that includes 0" in study.stream_quality_text(rec)
    del rec["summary"]["v1"]
    path.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="v1/v2 summary"):
        study.load_stream_quality(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        study.load_stream_quality(path)


def test_saved_mixtures_are_the_notebooks_and_refuse_other_folders(setup, tmp_path):
    cfg, mixes, _ = setup
    got = study.saved_mixtures(cfg, "eval")
    assert [m.mixed_file for m in got.mixtures] == [m.mixed_file for m in mixes["eval"].mixtures]
    assert len(study.saved_mixtures(cfg, "eval", 2)) == 2  # the first n, in the plan's order
    # another seed's plan: the folder holds mixtures, not the study's
    with pytest.raises(ValueError, match="does not hold the study's eval mixtures"):
        study.saved_mixtures(replace(cfg, mixture_seed=cfg.mixture_seed + 1), "eval")
    # no folder written: the error names it and says what to run
    other = replace(cfg, paths=replace(cfg.paths, out=tmp_path / "nothing"))
    with pytest.raises(ValueError, match=r"nothing/mixtures/eval: .*run notebook 02 first"):
        study.saved_mixtures(other, "eval")


def _generalisation_record() -> dict:
    def run(variant, gl, other, pooled, seen=False):
        per = {a: v for a, v in zip(("A09", "A10", "A15", "A18"), gl)} | {
            "A07": other,
            "A08": other,
        }
        return {
            "variant": variant,
            "epochs": 10,
            "best_epoch": 9,
            "dev_eer": 0.12,
            "eval_pooled_eer": pooled,
            "eval_pooled_ci95": [pooled - 0.02, pooled + 0.02],
            "eval_per_attack_eer": per,
            "eval_trials": {"bonafide": 320, "spoof": 1690},
        } | ({"seen": True} if seen else {})

    return {
        "runs": [
            run("base", (0.33, 0.40, 0.60, 0.68), 0.08, 0.25),
            run("rawboost", (0.38, 0.54, 0.51, 0.52), 0.18, 0.30),
        ]
    }


def test_the_generalisation_record_as_table_rows_and_sentences(tmp_path) -> None:
    from asvnb.results import ResultRow

    path = tmp_path / "detector_generalisation.json"
    assert study.load_generalisation(path) is None  # not measured there
    path.write_text(json.dumps(_generalisation_record()))
    got = study.load_generalisation(path)
    baseline = study.baseline_eers(
        [
            ResultRow("baseline", "lfcc_gmm", "LA19 eval", "eer", 0.112),
            ResultRow("baseline", "lfcc_gmm", "LA19 eval A09", "eer", 0.038),
            ResultRow("baseline", "lfcc_gmm", "LA19 eval A07", "eer", 0.138),
            ResultRow("baseline", "lfcc_gmm", "LA21 eval A09", "eer", 0.3),  # another set: left out
            ResultRow("baseline", "other", "LA19 eval A09", "eer", 0.5),  # another system: left out
        ]
    )
    assert baseline == {"pooled": 0.112, "A09": 0.038, "A07": 0.138}
    table = study.generalisation_table(got, baseline)
    assert list(table.index) == ["base", "rawboost", "LFCC-GMM (data chapter)"]
    assert (
        table.loc["base", "A18"] == 0.68 and table.loc["rawboost", "other attacks (mean)"] == 0.18
    )
    assert table.loc["base", "LA19 eval EER"] == "0.250 [0.230, 0.270]"
    assert table.loc["LFCC-GMM (data chapter)", "A09"] == 0.038
    rows = study.generalisation_rows(got)
    pooled = [r for r in rows if r.data == "LA19 eval"]
    assert [(r.system, r.value, r.n_trials) for r in pooled] == [
        ("base", 0.25, 2010),
        ("rawboost", 0.30, 2010),
    ]
    assert pooled[1].ci95 == pytest.approx((0.28, 0.32))
    # every row carries an interval: per-attack figures without one stay in the table, out of the rows
    assert len(rows) == 2 and {r.table for r in rows} == {"detector generalisation"}
    rec = _generalisation_record()
    rec["runs"][0]["eval_per_attack_ci95"] = {"A15": [0.55, 0.65]}
    a15 = [r for r in study.generalisation_rows(rec) if r.data == "LA19 eval, A15"]
    assert [(r.system, r.value, r.ci95) for r in a15] == [("base", 0.60, (0.55, 0.65))]
    text = study.generalisation_text(got, None)
    # Griffin-Lim means: base (0.33+0.40+0.60+0.68)/4 = 0.5025, rawboost 0.4875; the others 0.08 and 0.18
    assert "their mean EER is 0.49-0.50, against 0.08-0.18 on the other eval attacks" in text
    assert "every variant (base, rawboost) misses the Griffin-Lim attacks" in text
    assert "On A10, A15, A18 some variants are above 0.5" in text
    assert "did not learn" not in text
    rec = _generalisation_record()
    rec["runs"][1]["history"] = [
        {"epoch": 1, "train_loss": 0.695},
        {"epoch": 2, "train_loss": 0.692},
    ]
    seen = rec["runs"][0] | {"variant": "seen", "seen": True, "best_epoch": 10}
    rec["runs"].append(
        seen | {"eval_per_attack_eer": {"A09": 0.05, "A10": 0.1, "A15": 0.12, "A18": 0.08}}
    )
    assert "it can see these attacks once it is shown them" in study.generalisation_text(rec)
    rec["runs"][-1] = seen  # A15 0.60 even when seen, and the best epoch the last
    assert "in 10 epochs (its best dev epoch the last: still learning), misses" in (
        study.generalisation_text(rec)
    )
    # the seen run is the instrument check, not one of the variants trained on A01-A06
    assert "every variant (base, rawboost) misses" in study.generalisation_text(rec)
    assert "rawboost did not learn in its 10 epochs (training loss never below 0.692" in (
        study.generalisation_text(rec)
    )
    assert "A longer first convolution" not in study.generalisation_text(
        rec
    )  # every run keeps Base's
    # a 25 ms filter bank: Griffin-Lim mean (0.30+0.10+0.40+0.40)/4 = 0.30, against base's 0.5025 (rawboost,
    # which did not learn, left out); the others 0.22 against 0.08; dev 0.21 against 0.12
    bank = _generalisation_record()["runs"][0] | {
        "variant": "filterbank",
        "dev_eer": 0.21,
        "config": {"conv_kernels": [400, 3, 3]},
        "eval_per_attack_eer": {"A09": 0.3, "A10": 0.1, "A15": 0.4, "A18": 0.4, "A07": 0.22},
    }
    rec["runs"].append(bank)
    text = study.generalisation_text(rec)
    assert (
        "A longer first convolution (filterbank: a frequency resolution of 40 Hz, against 1600 Hz for Base's) "
        "brings the Griffin-Lim mean to 0.30 (Base's kernel: 0.50), the other attacks to 0.22 (0.08) and LA19 dev "
        "to 0.21 (0.12). The finer front end sees more"
    ) in text
    assert study.generalisation_table(rec).loc["filterbank", "first kernel (ms)"] == 25.0
    rec["runs"][-1] = bank | {"dev_eer": 0.10}  # better on dev too: no claim about new speakers
    assert "does not carry over" not in study.generalisation_text(rec)
    rec = _generalisation_record()
    del rec["runs"][1]["dev_eer"]
    path.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="'dev_eer' in every run"):
        study.load_generalisation(path)


def test_the_clean_detector_is_ranked_against_the_lfcc_gmm_by_the_paired_difference(
    tmp_path, monkeypatch
) -> None:
    from asvnb import comparisons, results
    from asvnb.results import ResultRow

    # labels 0 bona fide, 1 spoof; the detector separates them (EER 0); the baseline lets one spoof (0.5)
    # above one bona fide trial (0.2): between them 1 of 4 rejected and 1 of 4 accepted, EER 0.25
    labels = np.r_[np.zeros(4, int), np.ones(4, int)]
    scores = np.r_[3.0, 2.0, 1.0, 0.2, -0.5, -1.0, -2.0, -3.0]
    clean = {"scores": scores, "labels": labels, "eer": 0.0}
    gmm = np.r_[3.0, 2.0, 1.0, 0.2, 0.5, -1.0, -2.0, -3.0]
    row = study.clean_baseline_row(clean, gmm, reps=200)
    assert row.key() == ("difference", "clean minus LFCC-GMM", "LA19 eval", "eer")
    assert row.value == pytest.approx(-0.25) and row.n_trials == 8 and row.n_seeds == 1
    assert row.ci95[0] <= -0.25 <= row.ci95[1] <= 0
    with pytest.raises(ValueError, match="3 LFCC-GMM scores for 8 clean LA19 eval trials"):
        study.clean_baseline_row(clean, gmm[:3])
    # the sentence reads the paired row, with the data chapter's figure on the same 8 trials beside it
    monkeypatch.setenv("ASVNB_BUILD", str(tmp_path))
    base = ResultRow("baseline", "lfcc_gmm", "LA19 eval", "eer", 0.25, ci95=(0.0, 0.5), n_trials=8)
    results.write_results(comparisons.DATA_CHAPTER, "embedded", [base], {"git_commit": "x"})
    paired = ResultRow(
        "difference", study.CLEAN_BASELINE, "LA19 eval", "eer", -0.25, ci95=(-0.5, -0.1), n_trials=8
    )
    text = study.clean_text(clean, paired, "embedded")
    assert text.startswith("The detector alone: EER 0.0 % [0.0, 0.0] on 8 clean LA19 eval trials.")
    assert (
        "25.0 % [0.0, 50.0]; ours minus it, paired over the same 8 trials: -25.0 points [-50.0, -10.0], so ours is lower."
        in text
    )
