"""benchmarks/gpu_check.py runs on the CPU at its tiny size and prints the device, every unit and the projection
(issue 17: CI runs it this way, so it is known to work when a GPU is at hand)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from asvnb import config

SCRIPT = config.project_root() / "benchmarks" / "gpu_check.py"
UNITS = (
    "sepformer",
    "convtasnet",
    "wavlm_fwd",
    "wavlm_train",
    "g_resnetse_train",
    "l_resnetse_train",
    "g_resnetse_fwd",
    "l_resnetse_fwd",
    "g_resnetse_bim",
    "resnet50_train",
    "resnet50_fwd",
    "resnet18_train",
    "resnet18_fwd",
    "cnn_train",
    "cnn_fwd",
    "simplecnn_train",
    "simplecnn_fwd",
)


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclass looks its module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_tiny_run_on_the_cpu_prints_the_device_every_unit_and_the_projection() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    print(text)
    assert text.startswith("device: cpu")
    for unit in UNITS:
        assert f"  {unit} " in text, unit
    for nb in ("01", "02", "03", "04"):
        assert f"\n  {nb}  " in text  # the work of every notebook, in units
    assert "projection on this device: 01 " in text and "all four studies" in text
    assert "target: at most 1 GPU-hour for all four studies" in text
    assert "GPU-hours at 30 TFLOP/s" in text
    assert "\nverdict (from the FLOP count" in text and (
        "WITHIN the target" in text or "EXCEEDS the target" in text
    )
    assert (
        "  all four " in text and "(--settings source)" in text
    )  # the per-study table; the sources' settings


def test_work_is_read_from_the_configs_and_counted_from_a_data_root(tmp_path: Path) -> None:
    """The book's work follows the study configurations (not retyped numbers), and --data counts the datasets."""
    from asvnb.audio import expected_conversions
    from asvnb.data.synth import build_corpus
    from asvnb.studies import overlap_pipeline

    gc = _module()
    work = gc.book_work(gc.REAL)
    units = {u for _, _, u, _ in work}
    assert units <= set(UNITS) and {nb for nb, *_ in work} == {"01", "02", "03", "04"}
    n = overlap_pipeline.OverlapConfig.for_profile("full", data_root="/x").n_mixtures
    sep = next(c for nb, step, u, c in work if u == "sepformer")
    assert sep == pytest.approx(sum(n.values()) * gc.REAL["la_seconds"])
    # --settings source: the sources' settings, the budget's cuts undone (study 02's mixtures, study 03's epochs)
    source = gc.book_work(gc.REAL, "source")
    sep = next(c for nb, step, u, c in source if u == "sepformer")
    assert sep == pytest.approx(
        sum(overlap_pipeline.OverlapConfig.source_settings("/x").n_mixtures.values())
        * gc.REAL["la_seconds"]
    )
    teachers = {
        s: next(c for nb, step, u, c in w if step.startswith("4 teachers: "))
        for s, w in (("full", work), ("source", source))
    }
    assert teachers == {"full": 4 * 3 * 10 * 5000, "source": 4 * 3 * 20 * gc.REAL["la_train"]}
    with pytest.raises(ValueError, match="unknown settings"):
        gc.book_work(gc.REAL, "paper")
    root = config.corpus_root("ci")  # the tests' tiny corpus, in the real layouts
    with expected_conversions():
        build_corpus(root, scale=config.GENERATED_SCALES["ci"], seed=0)
    real = gc.count_real(root)
    assert (
        set(gc.REAL) <= set(real)
        and 0 < real["la_train_bona"] < real["la_train"]
        and real["la_seconds"] > 0.5
    )
