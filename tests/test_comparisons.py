"""A result is weighed against what a reader can weigh it by: the source's figure, the challenge baseline on the
same trials (the data chapter's LFCC-GMM), and chance; never a target of the project's plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from asvnb import comparisons, results
from asvnb.results import ResultRow


def eer_row(value: float, ci: tuple[float, float], n: int = 2010, source: float | None = None):
    return ResultRow("cm", "CNN", "LA19 eval", "eer", value, ci95=ci, n_trials=n, source=source)


def write_baseline(build: Path, profile: str, eer: float, ci: tuple[float, float], n: int = 2010):
    """The data chapter's results file with its LA19 eval baseline row."""
    row = ResultRow("baseline", "lfcc_gmm", "LA19 eval", "eer", eer, ci95=ci, n_trials=n)
    results.write_results(comparisons.DATA_CHAPTER, profile, [row], {"git_commit": "x"})


@pytest.fixture
def build(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ASVNB_BUILD", str(tmp_path))
    return tmp_path


def test_the_sentence_weighs_ours_against_source_baseline_and_chance(build) -> None:
    write_baseline(build, "embedded", 0.198, (0.177, 0.220))
    text = comparisons.weigh_eer(eer_row(0.31, (0.29, 0.33), source=0.12), "LA19 eval", "embedded")
    # without a paired difference, the baseline's figure is given and the ranking left open: the two
    # intervals over the same trials (29-33 against 17.7-22.0, apart) still rank nothing
    assert text == (
        "The source: 12.0 %, on the real data; ours is higher. "
        "The challenge baseline LFCC-GMM (the data chapter, on the same trials): 19.8 % [17.7, 22.0]; "
        "no paired interval on these trials ranks the two here. Chance: 50.0 %; ours is lower."
    )
    assert "target" not in text


def paired(value: float, ci: tuple[float, float]) -> ResultRow:
    return ResultRow(
        "difference", "CNN minus LFCC-GMM", "LA19 eval", "eer", value, ci95=ci, n_trials=2010
    )


def test_the_paired_difference_ranks_ours_and_the_baseline(build) -> None:
    write_baseline(build, "embedded", 0.198, (0.177, 0.220))
    # overlapping intervals (15-52 against 17.7-22.0), yet the paired interval lies below 0: ours is lower
    text = comparisons.weigh_eer(
        eer_row(0.21, (0.15, 0.52)), "LA19 eval", "embedded", paired=paired(-0.012, (-0.02, -0.004))
    )
    assert (
        "19.8 % [17.7, 22.0]; ours minus it, paired over the same 2,010 trials: -1.2 points "
        "[-2.0, -0.4], so ours is lower. Chance: 50.0 %; the intervals cannot tell them apart."
    ) in text
    assert text.startswith("The source reports no EER for it.")
    higher = comparisons.weigh_eer(
        eer_row(0.31, (0.29, 0.33)), "LA19 eval", "embedded", paired=paired(0.11, (0.09, 0.13))
    )
    assert "+11.0 points [+9.0, +13.0], so ours is higher." in higher
    open_ = comparisons.weigh_eer(
        eer_row(0.2, (0.18, 0.22)), "LA19 eval", "embedded", paired=paired(0.002, (-0.01, 0.014))
    )
    assert "; the interval includes 0, so these trials cannot tell the two apart." in open_
    with pytest.raises(ValueError, match="needs its ci95"):
        comparisons.paired_verdict(ResultRow("difference", "x", "LA19 eval", "eer", 0.1))


def test_no_baseline_from_another_profile_or_other_trials(build) -> None:
    write_baseline(build, "full", 0.3, (0.2, 0.4))  # a data chapter file of another profile
    assert comparisons.baseline_eer("LA19 eval", "embedded") is None
    text = comparisons.weigh_eer(eer_row(0.2, (0.1, 0.3)), "LA19 eval", "embedded")
    assert "LFCC-GMM on these trials is not in this build" in text
    # the audit's per-trial scores still rank the two on these trials
    text = comparisons.weigh_eer(
        eer_row(0.2, (0.1, 0.3)), "LA19 eval", "embedded", paired=paired(0.05, (0.01, 0.09))
    )
    assert (
        "The challenge baseline LFCC-GMM, scored on these trials: ours minus it, paired over the same "
        "2,010 trials: +5.0 points [+1.0, +9.0], so ours is higher." in text
    )
    write_baseline(build, "embedded", 0.3, (0.2, 0.4))
    assert comparisons.baseline_eer("LA19 eval", "embedded", n_trials=100) is None  # a subset
    assert comparisons.baseline_eer("LA21 eval", "embedded") is None  # a row it does not have
    assert comparisons.baseline_eer("LA19 eval", "embedded", n_trials=2010).ci95 == (0.2, 0.4)
    # a subset of the trials: the data chapter's figure is named with its count, not set beside ours
    text = comparisons.weigh_eer(eer_row(0.2, (0.1, 0.3), n=1801), "LA19 eval", "embedded")
    assert (
        "The data chapter's LFCC-GMM figure, 30.0 % [20.0, 40.0], pools 2010 LA19 eval trials, "
        in text
    )
    assert "not these 1801" in text and "ours is" not in text.split("Chance")[0]
    # the baseline scored on the subset itself (its per-trial scores) ranks the two: the paired row decides
    sub = ResultRow(
        "difference",
        "x minus LFCC-GMM",
        "LA19 eval",
        "eer",
        -0.05,
        ci95=(-0.08, -0.02),
        n_trials=1801,
    )
    text = comparisons.weigh_eer(
        eer_row(0.2, (0.1, 0.3), n=1801), "LA19 eval", "embedded", paired=sub
    )
    assert (
        "not these 1801; scored on these trials, ours minus it, paired over the same 1,801 trials"
        in text
    )
    assert "[-8.0, -2.0], so ours is lower." in text


def test_the_full_profile_takes_the_published_baseline(build) -> None:
    write_baseline(build, "embedded", 0.198, (0.177, 0.220))
    base = comparisons.baseline_eer("LA21 eval", "full")
    assert (base.eer, base.ci95) == (0.193, None) and "published" in base.origin
    text = comparisons.weigh_eer(
        eer_row(0.10, (0.09, 0.11), n=181566, source=0.0938), "LA21 eval", "full"
    )
    assert "19.3 %; ours is lower" in text and "on the real data" not in text


def test_study_01_key_text_names_no_target(build) -> None:
    from asvnb.studies import cnn_vs_resnet50 as study

    write_baseline(build, "embedded", 0.198, (0.177, 0.220))

    def row(system: str, metric: str, value: float, ci: tuple[float, float]) -> ResultRow:
        return ResultRow("cm", system, "LA19 eval", metric, value, 0.017, 3, ci, 2010, None, "")

    rows = [
        row("CNN", "eer", 0.31, (0.29, 0.33)),
        row("CNN", "f1_weighted", 0.69, (0.67, 0.71)),
        row("CNN", "min_tdcf", 0.8, (0.75, 0.85)),
        row("ResNet50", "eer", 0.45, (0.43, 0.47)),
    ]
    text = study.key_text(rows, "embedded")
    assert "target" not in text
    assert "EER 31.0 % ± 1.7 over 3 seeds (95 % CI 29.0-33.0 %) on LA19 eval." in text
    assert "19.8 % [17.7, 22.0]; no paired interval on these trials ranks the two here." in text
    rows.append(
        ResultRow(
            "difference",
            "CNN minus LFCC-GMM",
            "LA19 eval",
            "eer",
            0.112,
            0.017,
            3,
            (0.09, 0.13),
            2010,
        )
    )
    text = study.key_text(rows, "embedded")
    assert (
        "ours minus it, paired over the same 2,010 trials: +11.2 points [+9.0, +13.0], so ours is higher."
        in text
    )
    assert (
        "**ResNet50**: EER 45.0 %" in text and "above the CNN" not in text
    )  # read from the paired difference, not intervals


def test_trials_the_baseline_does_not_score_are_said_so(build) -> None:
    write_baseline(build, "embedded", 0.198, (0.177, 0.220))
    row = ResultRow("test", "SimpleCNN", "LA19 test segments", "eer", 0.2, ci95=(0.15, 0.25))
    text = comparisons.weigh_eer(row, "LA19 test segments", "embedded")
    assert "LFCC-GMM scores whole LA eval utterances, not these trials" in text
    assert "19.8" not in text and "Chance: 50.0 %; ours is lower." in text


def test_study_04_verdict_names_no_target(build) -> None:
    from types import SimpleNamespace

    from asvnb.studies.spectrogram_resnet18 import tables

    def row(metric: str, value: float, ci: tuple[float, float], source: float | None) -> ResultRow:
        data = tables.DATA["LA test"]
        return ResultRow("test", "SimpleCNN", data, metric, value, 0.01, 3, ci, 400, source)

    rows = [row("f1", 0.7, (0.65, 0.75), 0.9), row("eer", 0.3, (0.25, 0.35), None)]
    setup = SimpleNamespace(epochs=2, samples_per_epoch=None)
    cfg = SimpleNamespace(profile="embedded", setups={"SimpleCNN": setup})
    text = tables.verdict_text(cfg, rows, list(range(100)), ["SimpleCNN"])
    assert "target" not in text and "meets" not in text and "misses" not in text
    assert "F1 0.700 ± 0.010 (95 % CI 0.650-0.750; the source: 0.900)" in text
    assert "The source reports no EER for it." in text and "Chance: 50.0 %; ours is lower." in text


def test_ordering_reads_only_an_interval_that_excludes_zero() -> None:
    from asvnb.comparisons import ordering

    assert ordering((-0.08, -0.02), -1) == "reproduces"  # the source: a below b; ours too
    assert ordering((0.01, 0.05), -1) == "contradicts"
    assert ordering((-0.03, 0.01), -1) == "cannot tell"
    assert ordering((0.0, 0.04), 1) == "cannot tell"  # touching 0 does not exclude it
    assert ordering(None, 1) == "cannot tell"
    with pytest.raises(ValueError, match="source_sign"):
        ordering((0.1, 0.2), 0)
