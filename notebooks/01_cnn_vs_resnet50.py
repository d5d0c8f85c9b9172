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
# # A spectrogram CNN vs an ImageNet ResNet50, and what spoofing does to a CNN speaker verifier
#
# [![Open in Colab](../book/_static/colab-badge.svg)](https://colab.research.google.com/github/asvnb/asvnb/blob/main/notebooks/01_cnn_vs_resnet50.ipynb)
#
# **The source** (a course report {cite}`asimoglou2023`) trains two countermeasures on spectrograms
# of ASVspoof 2019 LA {cite}`asvspoof2019` (bona fide and spoofed) and Common Voice {cite}`commonvoice` (bona fide)
# speech, labels genuine 0 / spoofed 1: a plain CNN (convolution and pooling
# layers, then fully connected ones) and an ImageNet ResNet50 {cite}`resnet` whose last layer is
# replaced by two outputs and which is fine-tuned whole. It also describes a
# "CNN-based ASV system" trained with speaker identities as targets. It reports
# accuracy, precision, recall and F1 only, on one V100, with two contradictory
# sets of CNN figures, and states none of its spectrogram, clip or optimiser
# settings.
#
# **This chapter** makes it a measured comparison: both countermeasures trained
# through the shared trainer over several seeds, scored with the field's metrics
# (EER, and the min t-DCF with the corpus's ASV scores, as the LA layout ships
# them), with precision, recall and F1 given both as the source computed them
# (averaged over the two classes, weighted by support) and for the spoofed class
# alone. The source's "CNN-based ASV system" is built too: a CNN speaker
# classifier whose embeddings verify held-out speakers. And one shortcut the
# source's data offers is measured: its Common Voice clips are the only MP3s,
# and all of them are bona fide.

# %% tags=["parameters"]
# fmt: off
profile = "embedded"  # {embedded, full, ci}
data_root = None  # str | None: None is the profile's default (the embedded corpus); required for full
epochs = None  # int | None: None is the profile's default (embedded: a few; full: CNN 20, ResNet50 5, the book's GPU budget); a number sets every model's
image_size = None  # int | None: None is the profile's default (embedded: CNN 96, ResNet50 32; full: 224); a number sets both
seeds = [0, 1, 2]  # list[int]: one training run per seed; results are mean +- std over them
device = "auto"  # {auto, cpu, cuda, mps}
threads = None  # int | None: torch CPU threads (None: torch's default, every core); 1 avoids hand-off stalls on a busy machine
weights = "default"  # str | None: ResNet50 backbone: "default" (embedded: random init; full: "imagenet"), None, "imagenet" or a state_dict path
ge2e = False  # bool: also score with resemblyzer's pretrained GE2E speaker encoder (the corpus's ASV scores come from one)
cv_control = True  # bool: also train the CNN without Common Voice (the control of the MP3 shortcut)
max_items = None  # int | None: a quick run through every step: at most this many utterances per LA split and Common Voice part, both classes kept; None: all
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
from IPython.display import Markdown, display

from asvnb import plots, report, results
from asvnb.studies import cnn_vs_resnet50 as study
from asvnb.studies.spectrogram_common import bullets, rows_frame
from asvnb.train.classify import median_run, pooled_scores

# settings from configs/01_cnn_vs_resnet50/<profile>.yaml with the parameters above; an empty detector index
# (this run's detectors, for asvnb score and the leaderboard), seeds, threads, fingerprint and profile banner
# fmt: off
cfg, fp = study.setup(
    profile, data_root, seed=seeds[0], threads=threads, device=device, max_items=max_items,
    epochs=epochs, size=image_size, weights=weights,  # the models' budget, images and backbone
)
# fmt: on

# %% [markdown]
# ## Countermeasure data
#
# Every utterance is cropped or repeat-padded to 4 s and drawn as a coloured
# spectrogram image (32 ms Hann frames, half overlap, viridis; the tensor route
# of the spectrogram-image chapter). Training: LA train plus the Common Voice
# clips of half of its speakers; validation: LA dev; test: LA eval plus the other
# Common Voice speakers' clips, so that no Common Voice speaker is on both sides.
#
# The images stay on disk. In the full profile there are some 125,000 of them
# (LA19 train 25,380, dev 24,844, eval 71,237, and up to 4,000 Common Voice
# clips) of 224 x 224 pixels, 3 x 224 x 224 = 150,528 bytes each: 18.9 GB, more
# than a standard Colab runtime's 12.7 GB of memory. Each set is drawn one image
# at a time into a file of the image cache (a `.npy`; the training set's LA part
# first, then its Common Voice part) and memory-mapped from it: a corpus of a set
# is a view of its block of the file, not a copy, and training and scoring read
# their batches from the map, handing its pages back to the system every 1 GB
# read. Measured with `benchmarks/image_memory.py` (drawing, one shuffled
# training epoch and one scoring pass at 224 px), the process's own memory is
# 0.50 GB at 2,000 and 8,000 images and 0.57 GB at 32,000, and the mapped
# images' pages in it reach 1.1 GB at 8,000 and 1.4 GB at 32,000 (the hand-back
# bounds them; we allow twice its 1 GB, for the pages the system maps around
# each read). The full profile's rehearsal on the CI corpus
# (`tests/test_full_profile.py`: full-size models, 8 images a set) peaks at
# 2.6 GB in the notebook's kernel, 3.4 GB with papermill's worker. At the full
# count, the process's own memory growing as from 8,000 to 32,000 images
# (2.3 kB an image): 3.4 + 125,461 x 2.3 kB (0.3 GB) + 2.1 GB of mapped pages =
# 5.8 GB at most, under the 12 GB that leaves a Colab runtime room.

# %%
sets = study.cm_image_sets(cfg)  # per countermeasure, at its image size
display(study.count_table(sets["CNN"]))
plots.plot_spectrogram_grid(study.sample_panels(sets["CNN"]["train"]), ncols=3)

# %% [markdown]
# ## The two countermeasures
#
# The plain CNN: three 3 x 3 convolution + batch norm + ReLU + max-pooling blocks
# (16, 32, 64 channels), fully connected 1024 -> 256 -> 128, and a two-way
# output (the source gives no sizes; without batch norm, from random weights,
# it stayed at the class prior for epochs here). ResNet50: torchvision's, last
# layer replaced by two outputs, every layer trained. Adam, cross entropy
# weighted so that both classes weigh the same (80 % of the training clips are
# spoofed), and a one-cycle learning rate {cite}`onecycle` over every training
# clip each epoch: it rises to its peak over the first 30 % of the steps, then
# anneals to near zero (the source states no schedule; with a constant rate
# the CNN was still learning when its epochs ran out). The source names no rule for choosing an epoch; ours keeps the
# one of lowest validation EER (F1 of the spoofed class, the majority in LA dev,
# would crown an epoch that calls everything spoofed), among the later epochs
# (the notes below say from which): the first ones train at the warm-up's high rates, and are not validated. Offline, ResNet50 starts
# from random weights, and its epochs cost far more than the CNN's: the note
# says what it got, and the section after the results measures what a fair
# share would cost.

# %%
notes = study.setup_notes(cfg)
display(Markdown(bullets(notes)))
runs = {name: study.train_cms(cfg, name, sets[name], seeds) for name in study.CM_MODELS}
no_cv = (
    study.train_cms(cfg, "CNN", sets["CNN"], cfg.control_seeds_of(seeds), with_cv=False)
    if cv_control
    else None
)

# %%
for name, rs in runs.items():
    display(
        plots.plot_history(
            median_run(rs, "test").history.drop(columns=["lr", "seconds"]), title=name
        )
    )
for name, rs in runs.items():
    p = median_run(rs, "test").predictions["test"]
    display(plots.plot_confusion(p.labels, p.predicted, study.TASK.names, title=f"{name}, test"))
display(
    plots.plot_det(
        {name: pooled_scores(rs, "test", study.TASK.bonafide) for name, rs in runs.items()},
        title="countermeasures on the test set (all seeds pooled)",
    )
)

# %% [markdown]
# ## Which attacks the countermeasures miss
#
# A pooled EER hides which spoofing systems a countermeasure has learnt. Each
# row below scores one attack family or one attack of LA eval: its spoofed
# utterances against every bona fide one. Training saw A01-A06 only; on LA eval
# A16 and A19 repeat two of them (A04 and A06) and the other eleven systems are
# unseen, as in the real evaluation set. The data chapter lists every system
# with the artefact it leaves, and the ASVspoof LFCC-GMM baseline's EER on each:
# a row that is hard for both is hard for a reason the corpus states. The
# {doc}`leaderboard <05_leaderboard>` scores every detector of the four studies on these trials and
# measures the floor the voice-conversion attacks set under all of them.

# %%
attack_splits = study.add_attack_splits(runs, study.attack_groups(cfg.paths.data))
per_attack = study.attack_table(
    cfg, runs, attack_splits
)  # embedded: beside the data chapter's LFCC-GMM baseline
display(per_attack.round(1))
if text := study.attack_text(cfg, per_attack):
    display(Markdown(text))

# %% [markdown]
# ## The ASV side: the corpus's verifier and a CNN speaker verifier
#
# The t-DCF {cite}`tdcf` charges a countermeasure for the spoofs that would get
# past the ASV system it guards, so it needs that system's scores. At a CM
# threshold $s$, with the CM's miss and false-alarm rates
# $P^\mathrm{cm}_\mathrm{miss}(s)$ and $P^\mathrm{cm}_\mathrm{fa}(s)$, the
# normalised t-DCF of ASVspoof 2021 {cite}`asvspoof2021` is
#
# ```{math}
# :label: tdcf
# t\text{-}\mathrm{DCF}(s) = \frac{C_0 + C_1 P^\mathrm{cm}_\mathrm{miss}(s) + C_2 P^\mathrm{cm}_\mathrm{fa}(s)}{C_0 + \min(C_1, C_2)},
# \qquad
# \begin{aligned}
# C_0 &= \pi_\mathrm{tar} C_\mathrm{miss} P^\mathrm{asv}_\mathrm{miss} + \pi_\mathrm{non} C_\mathrm{fa} P^\mathrm{asv}_\mathrm{fa},\\
# C_1 &= \pi_\mathrm{tar} C_\mathrm{miss} - C_0,\\
# C_2 &= \pi_\mathrm{spoof} C_\mathrm{fa,spoof} P^\mathrm{asv}_\mathrm{fa,spoof},
# \end{aligned}
# ```
#
# where the ASV error rates are taken at the ASV system's own EER threshold, and
# the min t-DCF is its minimum over $s$ (the denominator is the cost of the
# better of accepting or rejecting every trial without a CM). As the real LA
# release does, the corpus ships the ASV scores: a GE2E speaker encoder
# {cite}`ge2e` scoring the LA eval ASV protocol (held-out speakers; target,
# non-target and spoofed trials). Every t-DCF of the results table uses those.
#
# The source's own "CNN-based ASV system" is built beside it: the same kind of
# CNN, on 40 log-mel bands of 2 s crops, trained to name the LA training
# speakers from their bona fide speech; its 128-dimensional penultimate layer
# embeds utterances of speakers it has never heard, and a trial's score is the
# cosine between the test embedding and the mean of the claimed speaker's
# enrolment embeddings. Two test beds: the LA eval ASV protocol and, as in the
# source, Common Voice (target and non-target only). It keeps its own table.

# %%
corpus_asv = study.LA2019(cfg.paths.data, "eval").asv_scores()
speaker_data = study.speaker_data(cfg)
asv_models = [study.train_speaker_cnn(cfg, speaker_data, seed) for seed in seeds]
display(plots.plot_history(asv_models[0][1].drop(columns=["lr", "seconds"]), title="speaker CNN"))
verifiers = [study.cnn_verifier(model, cfg) for model, _ in asv_models]
la_asv = [study.la_asv_scores(v, cfg) for v in verifiers]
cv_asv = [study.cv_asv_scores(v, cfg) for v in verifiers]
shown = {
    "corpus ASV (GE2E), LA eval": corpus_asv,
    f"CNN (ours, seed {seeds[0]}), LA eval": la_asv[0],
}
if ge2e:
    reference = study.ge2e_verifier(cfg)
    shown["GE2E (resemblyzer), LA eval"] = study.la_asv_scores(reference, cfg)
display(study.asv_summary(shown).round(2))
display(study.plot_asv_scores(shown))

# %%
display(Markdown(study.spoofs_accepted_text(shown)))

# %% [markdown]
# A weak ASV system makes the t-DCF of even a perfect countermeasure large (its
# own misses dominate), which is why the countermeasures are charged with the
# corpus's verifier, and our CNN verifier's t-DCF is a row of its own.

# %% [markdown]
# ## Results beside the source's
#
# Precision, recall and F1 two ways: as the source's figures are computed (each
# class's figure weighted by its support, sklearn's "weighted avg"; the recall is
# then the accuracy, as in every one of the source's sets), and for the spoofed
# class alone. Key figures are on LA eval; "test" adds the held-out Common Voice
# speakers, as the source's test set did.

# %%
table, asv_table = study.comparison_tables(cfg, runs, notes, corpus_asv, la_asv, cv_asv)
display(Markdown(report.profile_banner(profile)))
display(
    Markdown(
        "**Countermeasures** on LA eval (weighted: the source's kind of figure; the others: the spoofed "
        "class; min t-DCF with the corpus's ASV scores)"
    )
)
display(table)
display(Markdown("**Speaker verification** (the source reports no ASV figure)"))
display(asv_table)
print("saved", study.save_tables(table, asv_table))

# %% [markdown]
# The key figures with their 95 % intervals (bootstrap over trials, every
# seed's model scored on each resample; ± is the standard deviation over seeds).
# Two systems scored on the same trials are ranked by the interval of their
# difference, each bootstrap replicate scoring both on one resample of the
# trials {cite}`bootstrap,pairedbootstrap`: the CNN against ResNet50, and on the
# generated corpus against the data chapter's LFCC-GMM {cite}`lfcc,asvspoof2019`.
# Two intervals that overlap can still hide a difference the paired interval
# finds, since what the trials share cancels in it.

# %%
gmm = study.baseline_scores(
    cfg, runs["CNN"]
)  # the LFCC-GMM on these trials (None on the real data)
key_rows = study.key_rows(
    runs, corpus_asv, la_asv, cv_asv, no_cv, attack_splits=attack_splits, gmm=gmm
)
display(study.la_eval_frame(key_rows))
display(Markdown(study.key_text(key_rows, profile)))

# %% [markdown]
# ## Is ResNet50 given a fair chance?
#
# The source fine-tuned an ImageNet ResNet50 on a V100. Offline there are no
# ImageNet weights, so it starts from random ones, and on 2 CPU cores each of
# its training steps costs many times the CNN's. It gets at least as many
# optimiser steps as the CNN, on images as small as that takes. The table sets
# the two budgets side by side and measures the cost here (seconds of one
# training step per image, on this machine, now).

# %%
costs = study.cost_table(cfg, sets, runs)
display(costs.round(4))
display(
    plots.plot_history(
        median_run(runs["ResNet50"], "test").history[
            ["epoch", "train_loss", "val_loss", "val_eer"]
        ],
        title="ResNet50",
    )
)
display(Markdown(study.cost_text(cfg, costs, runs)))

# %% [markdown]
# ## The MP3 shortcut
#
# In the source's data, as in the corpus, the Common Voice clips are the only
# MP3s, and every one of them is bona fide. A countermeasure trained on them can
# learn "MP3 means genuine" instead of anything about spoofing. Two
# measurements: how the CNN scores the held-out Common Voice speakers' clips
# against the LA eval bona fide utterances (the share it calls genuine, and the
# probability that a random CV clip scores more genuine than a random LA bona
# fide one, 0.5 when the corpora look alike to it), and the same CNN trained
# without Common Voice.

# %%
recipes = {"CNN, with Common Voice": runs["CNN"]} | (
    {"CNN, without Common Voice": no_cv} if no_cv else {}
)
display(study.shortcut_table(recipes).round(3))
display(rows_frame(study.shortcut_rows(key_rows)))
display(Markdown(study.shortcut_text(key_rows)))

# %% [markdown]
# The Common Voice test side holds few clips here (one held-out speaker in the
# embedded corpus): the intervals resample clips, not speakers, so they say how
# stable the measurement is over these clips, not over Common Voice's speakers.

# %% [markdown]
# How to read the columns: the source's figures come from the real datasets on a
# V100, with its own (unstated) settings; in the embedded profile ours come from
# a few thousand generated utterances, small images, a few epochs and, for
# ResNet50, random initialisation (see the note column). The figures are
# computed the same way as the source's where it says how (the weighted rows),
# so they can be read side by side, but not as the same experiment.

# %%
print("wrote", results.write_results(study.STUDY, profile, key_rows, fp))
