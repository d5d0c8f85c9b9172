# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Spectrogram images of 30 s segments: SimpleCNN vs an ImageNet ResNet18
#
# [![Open in Colab](../book/_static/colab-badge.svg)](https://colab.research.google.com/github/asvnb/asvnb/blob/main/notebooks/04_spectrogram_resnet18.ipynb)
#
# **The source** ("ProtectYourVoice", a Colab notebook {cite}`liang2023`) cuts long recordings of
# the Kaggle DEEP-VOICE set {cite}`deepvoice` (real speeches of eight public figures and their
# voice-converted fakes) into 30 s segments, concatenates the short ASVspoof 2019
# LA utterances of each speaker and label before cutting them the same way,
# draws every segment with `pyplot.specgram`, saves it as a JPEG and trains two
# image classifiers on the 224 x 224 RGB pictures: a two-layer `SimpleCNN` and an
# ImageNet ResNet18 {cite}`resnet` behind an extra 7 x 7 convolution. It reports validation, test
# and "unseen" (the Imitation set {cite}`imitation`) F1 and accuracy, with real speech as the
# positive class.
#
# **This chapter** rebuilds that pipeline with the book's shared machinery: the
# same data preparation, the same two models and optimiser settings, training
# through the shared trainer (checkpoints, resume, histories, best model), and
# metrics over the whole set rather than averaged over batches, and the best
# epoch chosen by validation EER. It then measures, by running them, what the
# source got wrong: a class-dependent FFT size, a DEEP-VOICE split that puts
# segments of one recording on both sides, F1 averaged over batches, an unseen
# accuracy that is a mean of two batches, unseen images drawn with another FFT
# size than the training ones, and a weight-copy loop that copies nothing.

# %% tags=["parameters"]
# fmt: off
profile = "embedded"  # {embedded, full, ci}
data_root = None  # str | None: None is the profile's default (the embedded corpus); required for full
route = "tensor"  # {tensor, source}: spectrogram images: "tensor" (STFT on the fly) or "source" (specgram -> JPEG -> read back)
seconds = None  # float | None: segment length; None: the profile's default (full: the source's 30 s; embedded: 5 s)
epochs = None  # int | None: None is the profile's default (embedded: a few; full: the source's 30)
seeds = [0, 1, 2]  # list[int]: one training run per seed; results are mean +- std over them
device = "auto"  # {auto, cpu, cuda, mps}
threads = None  # int | None: torch CPU threads (None: torch's default, every core); 1 avoids hand-off stalls on a busy machine
weights = "default"  # str | None: ResNet18 backbone: "default" (embedded: random init; full: "imagenet"), None, "imagenet" or a state_dict path
leak_demo = True  # bool: also train SimpleCNN on the source's class-dependent FFT sizes (the leakage demonstration)
leak_epochs = None  # int | None: epochs of the DEEP-VOICE-only runs that measure the leaks; None: the profile's (6; ci 1)
# fmt: on

# %% tags=["remove-cell"]
# Colab only (a no-op anywhere else): install this package with everything the notebooks
# import; the set-up call below mounts Google Drive when data_root is on it. The URL is
# _config.yml's repository.url (`make sync` rewrites it).
import importlib
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("asvnb") is None:
    spec = "asvnb[colab] @ git+https://github.com/asvnb/asvnb@main"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", spec], check=True)
    importlib.invalidate_caches()

# %% tags=["hide-input"]
# %matplotlib inline
import torchvision
from IPython.display import Markdown, display

from asvnb import plots, report, results
from asvnb.studies import spectrogram_resnet18 as study
from asvnb.studies.spectrogram_common import bullets
from asvnb.train import load_best
from asvnb.train.classify import median_run

# settings from configs/04_spectrogram_resnet18/<profile>.yaml with the parameters above; an empty detector index
# (this run's detectors, for asvnb score and the leaderboard), seeds, threads, fingerprint and profile banner
# fmt: off
cfg, fp = study.setup(
    profile, data_root, seed=seeds[0], threads=threads, device=device,
    epochs=epochs, weights=weights, route=route, seconds=seconds,  # models, images, segments
    leak_epochs=leak_epochs,  # the leak runs
)
# fmt: on

# %% [markdown]
# ## Data: segments of three corpora
#
# DEEP-VOICE recordings are cut into consecutive segments (the shorter last
# piece kept, as the source's `range(0, len, 30000)` loop keeps it) and split
# 80/20 into train and test, the train part again 80/20 into train and
# validation. ASVspoof 2019 LA keeps its official split: in each of train, dev
# and eval, all bona fide utterances of a speaker are joined, all spoofed ones
# likewise, and the results cut the same way. The unseen Imitation clips
# are drawn whole. Every segment becomes one 224 x 224 x 3 image: a matplotlib
# `specgram` picture (NFFT 1024, overlap 512, viridis) by the route chosen above.
# Labels: real 1, fake 0. The source cuts 30 s segments, as the full profile
# does; the embedded corpus holds only a few minutes of speech per class, which
# 30 s segments cut into about 60 training images, too few for any model here to
# learn from, so its default is 5 s. The Imitation clips are also drawn with
# matplotlib's default NFFT of 256, as the source drew its unseen set.

# %%
display(
    Markdown(
        f"Segments of **{cfg.seconds:g} s** ({profile} profile; the source: "
        f"{study.source_settings()['seconds']:g} s)."
    )
)
sets = study.load_sets(cfg)
display(study.count_table(sets))

# %% [markdown]
# The two routes draw the same time-frequency content. The source route renders
# the figure to a JPEG (with the white margins around the axes that the source's
# `savefig` kept) and reads it back; the tensor route computes the same PSD in dB
# with `torch.stft` and colours it in memory, with no files.
# `benchmarks/spectrogram_routes.py` measures the difference in speed.

# %%
plots.plot_spectrogram_grid(study.sample_panels(cfg, sets["train"]), ncols=3)

# %% [markdown]
# ## Training: SimpleCNN and the ResNet18 transfer model
#
# `SimpleCNN` is the source's baseline layer for layer (conv 3->6 5x5, pool, conv
# 6->16 5x5, pool, fc 16*53*53->120->84->2); the transfer model is conv 3->3 7x7
# stride 2, then ResNet18 with every layer trainable, then fc 1000->100, ReLU,
# dropout 0.1, fc 100->2. Adam with cross entropy: lr 1e-3 and batch 64 for
# SimpleCNN, lr 1e-4 and batch 256 for ResNet18, 30 epochs, as in the source.
#
# The source kept the epoch of best validation F1 of the real class. On data
# where no epoch separates the classes well, that rule crowns the model that
# calls everything real: its recall is 1 and its F1 $2p / (1 + p)$ for a real
# share $p$ (0.61 at $p = 0.44$), more than many useful models reach. The book keeps
# the epoch of lowest validation EER instead, which a constant answer cannot win.
# Every epoch is checkpointed; rerunning this cell resumes an interrupted run
# rather than starting over. In the embedded profile the cross entropy weighs
# both classes the same (from random weights the plain loss left SimpleCNN
# calling every segment fake), each epoch draws a fresh
# random subset of the training images, and ResNet18 trains on the pictures
# scaled to a smaller side (the note below says which); SimpleCNN's first fully
# connected layer ties it to 224 x 224.

# %%
notes = study.setup_notes(
    cfg
)  # every departure from the source's settings (full.yaml), then side and backbone
display(Markdown(bullets(notes)))
runs = {name: study.train_models(cfg, name, sets, seeds) for name in cfg.setups}

# %% [markdown]
# Training curves of the median seed (by test F1) of each model: loss, accuracy,
# and the validation F1 and EER computed over the whole validation set.

# %%
for name, rs in runs.items():
    display(
        plots.plot_history(
            median_run(rs, "test").history.drop(columns=["lr", "seconds"]), title=name
        )
    )

# %% [markdown]
# ## Metrics over the whole set
#
# Accuracy, precision, recall and F1 of the real class, and the EER of the
# log-odds scores (real vs fake), for every set, model and seed (mean over
# seeds). "LA test" and "DV test" are the two corpora of the test set apart.
# F1 of the real class depends on how rare real segments are (computed below).
# The {doc}`leaderboard <05_leaderboard>` scores both models on single LA
# utterances beside every other detector of the book.

# %%
display(study.metric_summary(runs))
display(Markdown(study.real_share_text(sets)))

# %%
for name, rs in runs.items():
    run = median_run(rs, "test")
    for split in ("test", "unseen"):
        p = run.predictions[split]
        display(
            plots.plot_confusion(
                p.labels, p.predicted, study.TASK.names, title=f"{name}, {split} (seed {run.seed})"
            )
        )

# %% [markdown]
# ## Results beside the source's

# %%
table = study.comparison_table(cfg, runs, notes)
display(Markdown(report.profile_banner(profile)))
display(table)
print("saved", report.save_results(table, study.STUDY))

# %% [markdown]
# The key figures with their 95 % intervals (bootstrap over the test segments,
# every seed's model scored on each resample; ± is the standard deviation over
# seeds). The targets for the embedded LA test segments: F1 of the real class at
# least 0.80 and EER at most 0.20 for each model.

# %%
key_rows = study.result_rows(runs)
display(study.key_frame(key_rows))
display(Markdown(study.verdict_text(cfg, key_rows, sets["train"], list(runs))))

# %% [markdown]
# How to read the two columns: the source's figures come from 2,986 training
# images of the real datasets, 30 epochs and ImageNet weights; in the embedded
# profile ours come from the few hundred short segments the generated corpus
# makes, a few epochs and random initialisation (see the note column). They are
# measured the same way (whole set, real as the positive class), so the rows can
# be read side by side, but not as the same experiment.

# %% [markdown]
# ## The best model, reloaded, scores new audio
#
# Every run exported its best epoch with the configuration needed to rebuild it.
# Here the ResNet18 of the first seed is reloaded from disk alone and scores a
# recording it has never seen, cut and drawn the way the study cuts and draws.

# %%
best_dir = runs["ResNet18 transfer"][0].best_dir
best = load_best(best_dir)
print(f"reloaded {best_dir}")
for new_file in study.new_audio_examples(cfg):
    display(study.score_audio(best, new_file, cfg))

# %% [markdown]
# ## What the source got wrong
#
# ```{admonition} Seven slips in the source, and what each one does
# :class: warning
#
# 1. **Checkpoints chosen by validation F1 of the real class.** A model that
#    calls every segment real has recall 1 and F1 2p / (1 + p); on data it
#    cannot yet separate, that epoch wins. The book chooses by validation EER.
# 2. **Class-dependent FFT size (label leakage).** The source drew the fake
#    DEEP-VOICE segments with `NFFT=1024, noverlap=512` but the real ones without
#    `NFFT`, i.e. matplotlib's default of 256 (its `noverlap=512` is larger than
#    that, which current matplotlib refuses; the leaky run below uses 256/128).
#    The FFT size changes the picture's time-frequency resolution, so on
#    DEEP-VOICE a classifier can tell real from fake by the drawing alone.
# 3. **Segments of one recording on both sides of the split.** DEEP-VOICE holds
#    one real recording per person and fakes converted from those recordings;
#    the source splits the 30 s segments, not the recordings, so test segments
#    come from recordings (and, for fakes, from source speech) seen in training.
#    Below, the source's segment split against a split by source recording.
# 4. **F1 averaged over batches.** The source's `evaluate` computes F1 and
#    accuracy per shuffled batch and averages them: each batch weighs the same
#    whatever its size, and a batch with no real segment counts F1 = 0.
# 5. **The unseen accuracy is a mean of two batches.** The source's 0.8403 is
#    the mean of 56/64 and 29/36, the accuracies of the two batches (64 + 36
#    clips) of its unseen loader; over the whole set it classified 85 of 100
#    clips correctly, 0.85.
# 6. **Unseen images drawn with another FFT size.** The source drew its unseen
#    Imitation clips with matplotlib's default NFFT of 256, its training images
#    with 1024: the unseen test changes the drawing as well as the data. Below,
#    the Imitation set is scored drawn both ways.
# 7. **A weight-copy loop that copies nothing.** `PreTrainedResNet18` "copies the
#    pre-trained weights except conv1" by assigning into `self.state_dict()[key]`,
#    a fresh dictionary at each call, and under keys the model does not have
#    (`layer1...` instead of `resnet.layer1...`). It is harmless only because
#    `models.resnet18(pretrained=True)` already holds the ImageNet weights.
# ```

# %% [markdown]
# ### 2 and 3. Two leaks in DEEP-VOICE, measured
#
# Both leaks live in DEEP-VOICE, so they are measured there alone: SimpleCNN
# trained on DEEP-VOICE segments only (`leak_epochs` epochs, every seed), on
# three versions of the data: the source's segment split with one FFT size, the
# same split drawn with the source's class-dependent FFT sizes, and a split by
# source recording (a real recording and every fake made from it on one side)
# with one FFT size. Each model is tested on its own split's test segments.

# %%
dv_fixed, dv_splits = study.deepvoice_splits(
    cfg
)  # the source's segment split and a split by source recording
print(study.split_overlap_text(dv_fixed, dv_splits))
leak = study.leak_runs(cfg, dv_fixed, dv_splits, seeds, cfg.leak_epochs, fft_demo=leak_demo)
leak_rows = study.leak_rows(leak)
display(study.leak_frame(leak_rows))

# %% [markdown]
# Read the rows in pairs. The segment split against the recording split is the
# leak of the source's split: the same model and data, with test segments whose
# recordings were (segment split) or were not (recording split) heard in
# training. The source's FFT sizes against one FFT size is the drawing leak:
# a model that learned the cue keeps its score only while the test segments are
# drawn with it. The EER is the measure to compare (F1 at the arg-max threshold
# also moves with the threshold), and the intervals are wide: DEEP-VOICE holds 16
# recordings here, and the test side of the recording split only one source
# recording and the fakes made from it.

# %%
display(Markdown(study.leak_text(leak, leak_rows)))

# %% [markdown]
# ### 4. F1 averaged over batches vs over the whole set

# %%
display(study.batch_table(cfg, runs).round(3))

# %% [markdown]
# ### 5. The source's unseen accuracy, recomputed from its two batches

# %%
display(study.batch_mean_table())

# %% [markdown]
# ### 6. The unseen Imitation set, drawn as trained and drawn as the source drew it

# %%
unseen_rows = study.unseen_rows(runs)
display(study.unseen_frame(unseen_rows))

# %% [markdown]
# The Imitation set holds a few dozen clips here, so its intervals are wide;
# they say how far these figures can be trusted, not only what they are.

# %% [markdown]
# ### 7. The weight-copy loop

# %%
donor = torchvision.models.resnet18(
    weights=None
)  # stands in for the ImageNet ResNet18 the loop copies from
print(study.source_weight_copy(study.ResNet18Transfer(weights=None), donor))

# %% [markdown]
# ## Key figures, as data
#
# Every figure above that a check or another page reads is written to
# `build/results/04_spectrogram_resnet18.json`.

# %%
print(
    "wrote",
    results.write_results(
        study.STUDY, profile, study.all_rows(key_rows, leak_rows, unseen_rows), fp
    ),
)
