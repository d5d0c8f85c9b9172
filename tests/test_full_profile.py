"""The full profile rehearsed end to end on the CPU, with no network (issue 17, part 2).

Every study notebook (01-04), then the leaderboard (05) on the detectors they
registered, runs through papermill as a Colab user runs it:
``profile="full"``, ``data_root`` the embedded corpus (written in the real
datasets' layouts), and the notebooks' own defaults for every model
(``sepformer=None``, ``detector=None``, ``weights="default"``, the full profile's
separators, ``device="auto"``). The hub models are there at their full sizes with
random weights (``asvnb.models.full_size``), filed where the libraries look for
their downloads (``install_hub_caches``), so each loads through the very call
that loads the download on Colab:

- ``speechbrain/sepformer-wsj02mix``: a speechbrain model directory with the
  recipe's hyperparameters (256 channels, kernel 16 / stride 8, 2 dual-path
  layers of 8 + 8 transformer layers, 8 heads, d_ffn 1024, K = 250; 25.7 M
  parameters), written by the stand-in's writer, in a Hugging Face cache
  (``HF_HOME``, ``HF_HUB_OFFLINE=1``): ``SepformerSeparation.from_hparams`` on the hub id;
- ``abhishtagatya/wavlm-base-960h-asv19-deepfake``: WavLM Base from transformers'
  default ``WavLMConfig`` with a 2-class head (94.6 M), ``save_pretrained``, same
  cache: ``from_pretrained`` on the hub id;
- torchvision's ImageNet ResNet18 / ResNet50 (``weights="imagenet"``, what
  "default" means in full): random-weight state dicts of ``resnet18(weights=None)``
  / ``resnet50(weights=None)`` under the checkpoint names torchvision downloads
  to in ``TORCH_HOME``, so torchvision's own ``weights=IMAGENET1K_*`` path loads
  them (``weights=None`` would skip that loading, so it is not used);
- torchaudio's ``CONVTASNET_BASE_LIBRI2MIX`` (a separator of the full profile):
  likewise in torchaudio's asset cache;
- study 03's G-ResNetSE (5.6 M) and L-ResNetSE (1.4 M): built by the study at
  their full sizes, as on Colab.

Everything runs but the downloads themselves (the Hugging Face hub is offline,
so a download attempt there fails the test; torchvision and torchaudio find
their files in the cache and attempt none), the Colab cell's install and Drive mount (``tests/test_colab.py``
runs that cell with Colab faked), a GPU (``auto`` is the CPU here), and notebook
01's optional resemblyzer verifier (``ge2e=False`` by default). Sizes are the
smallest that still run every step: one seed, one epoch that is one optimiser
step per model (its items fit one batch), a few items per set (``max_items``),
study 02's separators on 3 mixtures per split, study 03's AEG threshold at 1.0 so
that static and active AEG keep examples (a random model never pushes a cosine
to the source's 0.4, and the runs with adversarial examples would be skipped).
Study 04 needs no cap: at the source's 30 s segments the corpus gives about 400
images (one step of the source's batch of 256 for ResNet18). The speaker CNN of
study 01 (a small model) still trains on all LA train bona fide speech.

Each test prints the notebook's wall time and peak memory (resident set of the
papermill worker and its kernel, sampled every 0.25 s, and the largest child
process's ``ru_maxrss``).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from asvnb import book, config, results
from asvnb.models import full_size

pytestmark = pytest.mark.slow

# the leaderboard last: it scores what the study notebooks registered in this build
NOTEBOOKS = (
    "01_cnn_vs_resnet50",
    "02_overlap_pipeline",
    "03_ge2e_aeg_kd",
    "04_spectrogram_resnet18",
    "05_leaderboard",
)
# the sizes of the rehearsal; everything else is the full profile's default
PARAMS: dict[str, dict] = {
    "01_cnn_vs_resnet50": {"epochs": 1, "seeds": [0], "threads": 1, "max_items": 8},
    "02_overlap_pipeline": {
        "epochs": 1,
        "seeds": [0],
        "n_train": 2,
        "n_dev": 2,
        "n_eval": 4,
        "max_items": 4,
    },
    "03_ge2e_aeg_kd": {
        "epochs": 1,
        "ge2e_epochs": 1,
        "crop_s": 0.5,
        "train_per_epoch": 32,
        "seeds": [0],
        "threads": 1,
        "max_items": 16,
        "aeg_threshold": 1.0,
    },
    "04_spectrogram_resnet18": {"epochs": 1, "seeds": [0], "threads": 1, "leak_epochs": 1},
    "05_leaderboard": {"max_trials": 12, "threads": 1, "bootstrap": 50},
}


def _models_key() -> str:
    """What made the models: the builder's code and the library versions that write and read them."""
    import speechbrain
    import torch
    import torchaudio
    import torchvision
    import transformers

    from asvnb.models import separation

    h = hashlib.sha256(Path(full_size.__file__).read_bytes())
    h.update(
        json.dumps(
            [
                full_size.SEPFORMER_WSJ02MIX,
                torch.__version__,
                torchaudio.__version__,
                torchvision.__version__,
                transformers.__version__,
                speechbrain.__version__,
            ]
        ).encode()
    )
    h.update(separation.sepformer_hyperparams(full_size.sepformer_config()).encode())
    return h.hexdigest()[:12]


@pytest.fixture(scope="module")
def hub_env() -> dict[str, str]:
    """The full-size models, built once under build/full-rehearsal/models-<key>, filed as the hub's downloads."""
    parent = config.build_root() / "full-rehearsal"
    root = parent / f"models-{_models_key()}"
    for old in parent.glob("models-*"):  # models of other code or versions: 600 MB each
        if old != root:
            shutil.rmtree(old, ignore_errors=True)
    models = full_size.build_full_size(root / "models")
    return full_size.install_hub_caches(models, root / "caches")


@pytest.fixture(scope="module")
def corpus() -> Path:
    """The CI profile's tiny generated corpus (built if missing), in the real layouts; no stand-in is needed."""
    from asvnb.audio import expected_conversions
    from asvnb.data.synth import build_corpus

    root = config.corpus_root("ci")
    with expected_conversions():
        build_corpus(root, scale=config.GENERATED_SCALES["ci"], seed=0)
    return root.resolve()


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("full-profile-build")


CHECK_LOADERS = """
import sys
from pathlib import Path
from asvnb.models import full_size, image_resnet, separation, wavlm

root = Path(sys.argv[1])
for source in (str(root / full_size.FILES["sepformer"]), separation.HUB_SEPFORMER):
    sep = separation.make_separator("sepformer", source)
    assert sep.sample_rate == 8000 and sep.n_params() == 25_679_361, (source, sep.n_params())  # the hub's 26 M
for source in (str(root / full_size.FILES["wavlm"]), wavlm.HUB_WAVLM):
    _, det = wavlm.load_detector(source)
    n = sum(p.numel() for p in det.parameters())
    assert det.config.num_hidden_layers == 12 and det.config.hidden_size == 768 and n == 94_579_314, (source, n)
assert separation.make_separator("convtasnet").source == "CONVTASNET_BASE_LIBRI2MIX"
assert sum(p.numel() for p in image_resnet.resnet50_classifier(2, "imagenet").parameters()) == 23_512_130
assert sum(p.numel() for p in image_resnet.ResNet18Transfer("imagenet").parameters()) == 11_790_255
print("ok")
"""


def test_full_size_models_load_from_a_folder_and_as_the_hub_ids(hub_env: dict[str, str]) -> None:
    """The folders load through the loaders the notebooks call, as local folders and, offline, as the hub ids.

    In a child process: huggingface_hub reads HF_HUB_OFFLINE and HF_HOME when it is imported.
    """
    models = Path(hub_env["HF_HOME"]).parents[1] / "models"
    out = subprocess.run(
        [sys.executable, "-c", CHECK_LOADERS, str(models)],
        env=os.environ | hub_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_the_full_profile(
    name: str,
    hub_env: dict[str, str],
    corpus: Path,
    build: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    record_property,
) -> None:
    for k, v in hub_env.items():
        monkeypatch.setenv(k, v)  # the papermill worker and its kernel inherit them
    notebook = config.project_root() / "notebooks" / f"{name}.ipynb"
    params = {"profile": "full", "data_root": str(corpus)} | PARAMS[name]
    rec = book.execute_notebook(
        notebook, params, build=build, use_cache=False, log=lambda _line: None
    )
    assert rec.status == "ok" and rec.profile == "full"
    monkeypatch.setenv("ASVNB_BUILD", str(build))
    doc = json.loads(results.results_path(name).read_text())
    assert doc["profile"] == "full" and doc["fingerprint"]["data_root"] == str(corpus)
    rows = results.read_results(name)  # typed, finite, unique keys
    assert rows and len({r.key() for r in rows}) == len(rows)
    child_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    record_property("duration_s", rec.duration_s)
    record_property("peak_memory_mb", rec.peak_memory_mb)
    with capsys.disabled():
        print(
            f"\n[full profile] {name}: {rec.duration_s:.0f} s, peak memory {rec.peak_memory_mb:.0f} MB "
            f"(worker + kernel RSS; largest child process so far: {child_peak_mb:.0f} MB)"
        )
