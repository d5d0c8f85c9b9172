"""Every cache is keyed by the code that made it (issue 25): a training module's text re-keys every run that
imports it, a module no producer imports (plots) re-keys none, and results files say which commit made them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from asvnb import provenance, results
from asvnb.results import ResultRow

PACKAGE = Path(provenance.__file__).resolve().parent

# the modules each cache names as its producer (see the call sites: files.run_dir's code=, StreamCache, ...)
PRODUCERS = {
    "study 01/04 classifier runs": ("asvnb.train.classify", "asvnb.models.cnn"),
    "study 01 countermeasure data": ("asvnb.studies.cnn_vs_resnet50.countermeasures",),
    "study 04 training data": ("asvnb.studies.spectrogram_resnet18.training",),
    "study 03 runs": ("asvnb.studies.ge2e_aeg_kd.runs",),
    "study 02 fine-tuning": ("asvnb.studies.overlap_pipeline.finetune",),
    "study 02 streams": (
        "asvnb.studies.overlap_pipeline.separate_and_score",
        "asvnb.models.separation",
    ),
    "stand-ins": ("asvnb.train.standins",),
    "leaderboard scores": ("asvnb.leaderboard.scores",),
}


@pytest.fixture()
def package_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the package (and the lock file beside it) that the keys are read from, free to edit."""
    root = tmp_path / "src" / "asvnb"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "requirements-lock.txt").write_text("torch==2.9.1\n")
    monkeypatch.setattr(provenance, "PACKAGE_DIR", root)
    provenance.direct_imports.cache_clear()
    yield root
    provenance.direct_imports.cache_clear()


def keys() -> dict[str, str]:
    provenance.direct_imports.cache_clear()
    return {name: provenance.code_key(*mods) for name, mods in PRODUCERS.items()}


def test_a_training_module_rekeys_every_run_that_imports_it(package_copy: Path) -> None:
    before = keys()
    with (package_copy / "train" / "loop.py").open("a") as f:
        f.write("\n# a change to the trainer\n")
    after = keys()
    # every producer that trains goes through the shared trainer; the streams and scores do not train
    trains = {k for k in PRODUCERS if k not in ("study 02 streams", "leaderboard scores")}
    assert {k for k in PRODUCERS if before[k] != after[k]} >= trains


def test_an_unrelated_module_leaves_every_key(package_copy: Path) -> None:
    before = keys()
    with (package_copy / "plots.py").open("a") as f:
        f.write("\n# a change to a plotting module\n")
    assert keys() == before


def test_the_locked_dependencies_rekey_everything(package_copy: Path) -> None:
    before = keys()
    (package_copy.parents[1] / "requirements-lock.txt").write_text("torch==2.10.0\n")
    after = keys()
    assert all(before[k] != after[k] for k in PRODUCERS)


def test_the_closure_follows_absolute_relative_and_submodule_imports(package_copy: Path) -> None:
    (package_copy / "models" / "probe_a.py").write_text(
        "from . import cnn\nfrom .probe_b import x\n"
    )
    (package_copy / "models" / "probe_b.py").write_text("from asvnb.train import loop\nx = 1\n")
    got = provenance.closure(["asvnb.models.probe_a"])
    # `from . import cnn` is the submodule; `from asvnb.train import loop` runs the package and the submodule
    for m in ("asvnb.models", "asvnb.models.cnn", "asvnb.models.probe_b", "asvnb.train"):
        assert m in got, m
    assert "asvnb.train.loop" in got and "asvnb.plots" not in got
    assert got == sorted(got)


def test_a_study_packages_init_is_not_run_by_its_training_module() -> None:
    # the study package's __init__ gathers tables and figures (plots): a training module does not import it
    closure = provenance.closure(["asvnb.studies.overlap_pipeline.finetune"])
    assert "asvnb.studies.overlap_pipeline" not in closure and "asvnb.plots" not in closure
    assert "asvnb.train.loop" in closure and "asvnb.models.wavlm" in closure


def test_bad_module_names_are_errors() -> None:
    with pytest.raises(ValueError, match="needs the modules"):
        provenance.code_key()
    with pytest.raises(ValueError, match="not a module of the asvnb package nor a loaded module"):
        provenance.code_key("no_such_package.module")
    # a caller's own module (here this test file) counts by its source file
    assert provenance.code_key(__name__) != provenance.code_key("asvnb.plots")
    with pytest.raises(ModuleNotFoundError, match="asvnb.no_such_module"):
        provenance.code_key("asvnb.no_such_module")


def test_run_folders_follow_the_code(
    package_copy: Path, build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asvnb.studies.ge2e_aeg_kd import GE2EAEGKDConfig

    monkeypatch.setattr("asvnb.config.data_fingerprint", lambda root: "d")
    cfg = GE2EAEGKDConfig.for_profile("ci")
    before = cfg.run_root(0)
    with (package_copy / "train" / "losses.py").open("a") as f:
        f.write("\n# a change to the losses\n")
    provenance.direct_imports.cache_clear()
    after = cfg.run_root(0)
    assert before.parent.name != after.parent.name and before.name == after.name == "seed0"


def test_results_files_say_which_commit_and_code_made_them(build_dir: Path) -> None:
    row = ResultRow("t", "s", "d", "eer", 0.1, n_trials=10)
    path = results.write_results("01_cnn_vs_resnet50", "ci", [row], {"torch": "2.9.1"})
    fp = results.load_results_file(path).fingerprint
    state = provenance.git_state()
    assert fp["git_commit"] == state["git_commit"] and fp["git_dirty"] == state["git_dirty"]
    assert isinstance(fp["git_dirty"], bool) and len(fp["git_commit"]) == 40
    assert fp["code_key"] == provenance.loaded_code_key() and fp["torch"] == "2.9.1"


def test_git_state_outside_a_checkout(tmp_path: Path) -> None:
    assert provenance.git_state(tmp_path) == {"git_commit": None, "git_dirty": None}
