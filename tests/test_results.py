"""Typed result rows and the results file of ../shared/results-schema.md."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from asvnb import results
from asvnb.results import ResultRow


def test_rows_round_trip_through_the_results_file(build_dir):
    rows = [
        ResultRow(
            "pipeline",
            "sepformer, fine-tuned",
            "LA19 eval mixtures",
            "stream_eer",
            0.25,
            **{k: v for k, v in results.over_seeds([0.2, 0.25, 0.3]).items() if k != "value"},
            ci95=(0.2, 0.3),
            n_trials=2000,
            source=0.2198,
            note="3 seeds",
        ),
        ResultRow("detector", "clean", "LA19 eval", "eer", 0.05, extra={"threshold": 1.5}),
    ]
    path = results.write_results("02_overlap_pipeline", "embedded", rows, {"torch": "2.9.1"})
    assert path == build_dir / "results" / "02_overlap_pipeline.json"
    doc = json.loads(path.read_text())
    assert doc["notebook"] == "02_overlap_pipeline" and doc["profile"] == "embedded"
    # the given fingerprint, and which commit (dirty or not) and code made the file (test_provenance)
    assert set(doc["fingerprint"]) == {"torch", "git_commit", "git_dirty", "code_key"}
    assert doc["fingerprint"]["torch"] == "2.9.1" and doc["created"].endswith("Z")
    first = doc["rows"][0]
    assert (
        first["std"] == pytest.approx(0.05)
        and first["n_seeds"] == 3
        and first["ci95"] == [0.2, 0.3]
    )
    assert (
        doc["rows"][1]["threshold"] == 1.5
        and doc["rows"][1]["std"] is None
        and doc["rows"][1]["n_seeds"] == 1
    )
    back = results.read_results("02_overlap_pipeline")
    assert (
        back[0].key() == rows[0].key()
        and back[0].ci95 == (0.2, 0.3)
        and back[1].extra == {"threshold": 1.5}
    )


def test_a_row_that_is_not_a_number_is_refused():
    with pytest.raises(ValueError, match="value nan is not finite"):
        ResultRow("t", "s", "d", "eer", math.nan)
    with pytest.raises(ValueError, match="ci95"):
        ResultRow("t", "s", "d", "eer", 0.1, ci95=(0.0, math.inf))
    with pytest.raises(ValueError, match="system must be a non-empty string"):
        ResultRow("t", "", "d", "eer", 0.1)
    with pytest.raises(ValueError, match="per-seed values must be finite"):
        results.over_seeds([0.1, math.nan])


def test_duplicate_keys_are_refused(build_dir):
    row = ResultRow("t", "s", "d", "eer", 0.1)
    with pytest.raises(ValueError, match="rows 0 and 1 share the key"):
        results.write_results("x", "embedded", [row, row])
    with pytest.raises(ValueError, match="profile"):
        results.write_results("x", "laptop", [row])


def test_bootstrap_interval_of_a_mean_and_of_an_eer():
    x = np.random.default_rng(0).normal(1.0, 1.0, 400)
    lo, hi = results.bootstrap_ci(lambda i: float(x[i].mean()), len(x), reps=2000)
    se = x.std() / np.sqrt(len(x))  # the normal approximation: mean +- 1.96 standard errors
    assert lo == pytest.approx(x.mean() - 1.96 * se, abs=0.02) and hi == pytest.approx(
        x.mean() + 1.96 * se, abs=0.02
    )
    bona, spoof = (
        np.arange(10.0, 20.0),
        np.arange(0.0, 10.0),
    )  # perfectly separated: every resample has EER 0
    assert results.eer_ci(bona, spoof, reps=200) == (0.0, 0.0)


def test_bootstrap_skips_undefined_resamples_only_when_asked() -> None:
    import numpy as np
    import pytest

    from asvnb.results import bootstrap_ci

    # the statistic is undefined (NaN) whenever trial 0 is drawn; the others give the mean of the values
    x = np.array([5.0, 1.0, 2.0, 3.0])

    def stat(idx: np.ndarray) -> float:
        return float("nan") if 0 in idx else float(x[idx].mean())

    lo, hi = bootstrap_ci(stat, 4, reps=300, skip_nan=True)
    assert 1.0 <= lo <= hi <= 3.0  # only resamples of trials 1-3 count
    assert np.isnan(bootstrap_ci(stat, 4, reps=300)[0])  # without it, NaN stays NaN
    with pytest.raises(ValueError, match="undefined on all 50 resamples"):
        bootstrap_ci(lambda idx: float("nan"), 4, reps=50, skip_nan=True)


def test_paired_difference_of_means_matches_the_normal_interval_of_the_differences() -> None:
    # two systems scored on the same 500 trials that share most of their variance: paired, the interval is
    # that of the per-trial differences (sd 0.1), far narrower than either system's own (sd 1)
    rng = np.random.default_rng(1)
    shared = rng.normal(0.0, 1.0, 500)
    a, b = shared + 0.3 + rng.normal(0, 0.1, 500), shared
    out = results.paired_difference(
        [lambda i: float(a[i].mean())], [lambda i: float(b[i].mean())], 500, reps=2000
    )
    d = a - b
    se = d.std() / np.sqrt(len(d))
    assert out["value"] == pytest.approx(d.mean())
    assert out["ci95"][0] == pytest.approx(d.mean() - 1.96 * se, abs=0.003)
    assert out["ci95"][1] == pytest.approx(d.mean() + 1.96 * se, abs=0.003)
    assert out["n_seeds"] == 1 and out["std"] is None


def test_paired_difference_over_seeds_averages_each_side_and_describes_the_seed_differences() -> (
    None
):
    x = np.arange(6.0)
    a = [lambda i, k=k: float(x[i].mean() + k) for k in (1.0, 3.0)]  # two seeds: mean+1, mean+3
    b = [lambda i, k=k: float(x[i].mean() + k) for k in (0.0, 0.0)]
    out = results.paired_difference(a, b, 6, reps=100)
    assert out["value"] == pytest.approx(2.0)
    assert out["ci95"] == pytest.approx((2.0, 2.0))  # the trials cancel exactly
    assert out["n_seeds"] == 2 and out["std"] == pytest.approx(np.std([1.0, 3.0], ddof=1))
    # one pre-trained run against three fine-tuned ones: the seeds are the fine-tuned side's
    one = results.paired_difference(a + a[:1], b[:1], 6, reps=50)
    assert one["value"] == pytest.approx((1 + 3 + 1) / 3) and one["n_seeds"] == 3


def test_eer_stat_and_bad_input_of_paired_difference() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.75, 0.1])
    bona = np.array([True, True, True, False, False, False])
    # bona fide 0.7-0.9, spoof 0.1/0.2/0.75: one spoof above one bona fide -> EER 1/3
    assert results.eer_stat(scores, bona)(np.arange(6)) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="5 scores but 6 labels"):
        results.eer_stat(scores[:5], bona)
    with pytest.raises(ValueError, match="at least one run"):
        results.paired_difference([], [lambda i: 0.0], 6)
    with pytest.raises(ValueError, match="1 trial"):
        results.paired_difference([lambda i: 0.0], [lambda i: 0.0], 1)


def test_a_benchmark_record_is_read_checked_or_absent(tmp_path) -> None:
    def required(record: dict) -> str | None:
        return None if "arms" in record else "'arms'"

    path = tmp_path / "bench.json"
    assert (
        results.benchmark_record("x.json", "benchmarks/b.py", required, path) is None
    )  # not run there
    path.write_text(json.dumps({"arms": {"1x": 1}}))
    assert results.benchmark_record("x.json", "benchmarks/b.py", required, path) == {
        "arms": {"1x": 1}
    }
    path.write_text(json.dumps({"other": 1}))
    with pytest.raises(
        ValueError, match=r"bench.json: no 'arms' in the record; run .*benchmarks/b.py"
    ):
        results.benchmark_record("x.json", "benchmarks/b.py", required, path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="bench.json: expected a JSON object"):
        results.benchmark_record("x.json", "benchmarks/b.py", required, path)
    path.write_text("{")
    with pytest.raises(ValueError, match="bench.json: not valid JSON.*benchmarks/b.py"):
        results.benchmark_record("x.json", "benchmarks/b.py", required, path)
