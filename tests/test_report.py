"""Results tables: formatting of seeds, source figures, profile labels, saving."""

from __future__ import annotations

import pandas as pd
import pytest

from asvnb import report


def test_mean_std_uses_the_sample_std() -> None:
    # mean of 0.90, 0.92, 0.94 = 0.92; sample std = sqrt((0.02^2 + 0 + 0.02^2) / 2) = 0.02
    assert report.mean_std([0.90, 0.92, 0.94]) == "0.920 ± 0.020 (n=3)"
    assert report.mean_std([0.0123, 0.0145], percent=True) == "1.34 ± 0.16% (n=2)"
    assert report.mean_std([0.5]) == "0.500"
    assert report.mean_std([]) == "-"
    assert report.mean_std([0.1, float("nan")]) == "nan in 1 of 2 runs"


def test_comparison_table_labels_every_row_with_the_profile() -> None:
    df = report.comparison_table(
        [
            {
                "model": "CNN",
                "metric": "accuracy",
                "source": "0.69 (also 70%)",
                "ours": [0.8, 0.9, 1.0],
            },
            {
                "model": "ResNet50",
                "metric": "EER",
                "source": None,
                "ours": [0.05],
                "percent": True,
                "note": "not reported by the source",
            },
        ],
        profile="embedded",
    )
    assert list(df.columns) == report.COLUMNS
    assert df["profile"].tolist() == ["embedded", "embedded"]
    assert (
        df.loc[0, "source"] == "0.69 (also 70%)" and df.loc[0, "this book"] == "0.900 ± 0.100 (n=3)"
    )
    assert df.loc[1, "source"] == "-" and df.loc[1, "this book"] == "5.00%"
    with pytest.raises(ValueError, match="unknown profile"):
        report.comparison_table([], profile="laptop")


def test_save_results_writes_csv_and_refuses_other_tables(build_dir) -> None:
    df = report.comparison_table(
        [{"model": "m", "metric": "F1", "source": 0.5, "ours": [0.25]}], "full"
    )
    path = report.save_results(df, "study_x")
    assert path == build_dir / "results" / "study_x.csv"
    back = pd.read_csv(path)
    assert (
        back.loc[0, "source"] == 0.5
        and back.loc[0, "this book"] == 0.25
        and back.loc[0, "profile"] == "full"
    )
    with pytest.raises(ValueError, match="lacks the columns"):
        report.save_results(pd.DataFrame({"a": [1]}), "bad")


def test_a_misspelt_table_key_is_an_error_not_a_blank_cell() -> None:
    row = {"model": "CNN", "metric": "EER", "ours": [0.25, 0.35], "notes": "typo"}
    with pytest.raises(KeyError, match="unknown key\\(s\\) notes"):
        report.comparison_table([row], "embedded")
    typed = report.ComparisonRow("CNN", "EER", [0.25, 0.35], source=0.1, percent=True)
    table = report.comparison_table([typed], "embedded")
    # mean 30 %, sample std 7.07 % (ddof 1), two seeds; the source's 0.1 as 10.00 %
    assert table.loc[0, "this book"] == "30.00 ± 7.07% (n=2)"
    assert table.loc[0, "source"] == "10.00%"
