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
# # Leaderboard: every countermeasure of studies 01-04 on the same trials
#
# [![Open in Colab](../book/_static/colab-badge.svg)](https://colab.research.google.com/github/asvnb/asvnb/blob/main/notebooks/05_leaderboard.ipynb)
#
# Each study chapter scores its detectors on its own terms: study 01 on LA 2019
# eval images, study 02 on two-speaker mixtures, study 03 on LA 2021 eval, study
# 04 on segments that join several utterances. Their numbers cannot be set side
# by side. This chapter loads every countermeasure the four studies trained,
# as `asvnb score` loads it (from the detector card each study writes beside the
# weights), and scores all of them on the same trials: every utterance of the
# embedded LA 2019 eval {cite}`asvspoof2019` and of the LA 2021 eval
# {cite}`asvspoof2021`, one score per utterance.
#
# **The input rule.** Each trial is read from its flac file at the detector's own
# sample rate, as mono, and given to the detector the way its study evaluated it,
# as its card states. The image CNNs and ResNetSE read the first *n* seconds,
# repeat-padded when the utterance is shorter. SimpleCNN and ResNet18 read
# consecutive segments of their training length; a shorter last piece is
# repeat-padded, so that every picture keeps the time scale the model learnt, and
# the file's score is the mean over its pieces. The WavLM detector reads the whole
# recording. The score is the network's log-odds of bona fide against spoof, and
# it is used as it comes, with no calibration.
#
# **The metrics.** With $P_\mathrm{miss}(\tau)$ the rate of bona fide trials
# scored at or below a threshold $\tau$ and $P_\mathrm{fa}(\tau)$ the rate of
# spoofed ones above it, the EER is the rate where the two meet. The minimum
# tandem detection cost function (t-DCF, its 2021 form {eq}`tdcf`) {cite}`tdcf` sets the
# countermeasure in front of the corpus's own ASV system, whose scores ship with
# the corpus as they do with LA. ASVspoof 5 {cite}`asvspoof5` adds three metrics
# that read the score $s$ as a log-likelihood ratio:
#
# $$
# \mathrm{DCF}(\tau) = \frac{C_\mathrm{miss}(1-\pi_\mathrm{spf})\,P_\mathrm{miss}(\tau)
#   + C_\mathrm{fa}\,\pi_\mathrm{spf}\,P_\mathrm{fa}(\tau)}{\min\{C_\mathrm{miss}(1-\pi_\mathrm{spf}),\;
#   C_\mathrm{fa}\,\pi_\mathrm{spf}\}} ,
# $$
#
# with $\pi_\mathrm{spf} = 0.05$, $C_\mathrm{miss} = 1$ and $C_\mathrm{fa} = 10$.
# minDCF is its minimum over $\tau$; actDCF is its value at the Bayes threshold
# $\tau^* = \ln\frac{C_\mathrm{fa}\,\pi_\mathrm{spf}}{C_\mathrm{miss}(1-\pi_\mathrm{spf})} \approx -0.64$,
# which is right only if the scores are calibrated; and the cost of the
# log-likelihood ratio {cite}`cllr`,
#
# $$
# C_\mathrm{llr} = \frac{1}{2\log 2}\left(\frac{1}{N_\mathrm{bon}}\sum_{i\in\mathrm{bon}}\log\!\left(1+e^{-s_i}\right)
#   + \frac{1}{N_\mathrm{spf}}\sum_{j\in\mathrm{spf}}\log\!\left(1+e^{s_j}\right)\right),
# $$
#
# is 0 for perfect calibrated scores and 1 for a system that always says "I do
# not know" ($s = 0$). A gap between actDCF and minDCF, or a $C_\mathrm{llr}$
# above 1, says that the scores are miscalibrated, not that the detector ranks
# trials badly.

# %% tags=["parameters"]
# fmt: off
profile = "embedded"  # {embedded, full, ci}
data_root = None  # str | None: None is the profile's default (the embedded corpus); required for full
seeds = [0]  # list[int]: the training seeds scored (each study trained several; the chapters give their spread)
la21_phase = "eval"  # {progress, eval, hidden_track}: the LA 2021 eval phase scored
device = "auto"  # {auto, cpu, cuda, mps}
threads = None  # int | None: torch CPU threads (None: torch's default, every core)
bootstrap = 1000  # int: bootstrap resamples behind each EER interval
max_trials = None  # int | None: a quick run on at most this many trials per set (balanced over bona fide and attacks); None: all
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

from asvnb import config, leaderboard, plots, report
from asvnb.data.asvspoof import attack_families

paths = leaderboard.setup(profile, data_root, device, threads)

# %% [markdown]
# ## The detectors and their cards
#
# Every study lists the detectors it trained in its `detectors.json`, beside
# its runs; a detector card records what the network reads. The threshold each
# card stores (its development set's EER threshold) is what `asvnb score` decides
# at; the metrics below do not use it.

# %%
entries = leaderboard.registered_detectors(profile, seeds)
leaderboard.card_summary(entries)

# %% [markdown]
# ## Scoring
#
# Every detector scores every trial of both sets (cached by detector weights and
# trial list, so a rebuild only scores what changed). The speed column is the
# wall time of reading, front end and network over a whole set, in seconds of
# audio per second, on this machine's CPU threads when the scores were computed.
#
# Beside them stands the challenge's own 2019 baseline, the LFCC-GMM (row
# `00 LFCC-GMM`): linear-frequency cepstra with one Gaussian mixture per class,
# trained on LA train. Its scores are those of the data chapter's audit, which
# trained it and scored every trial of both sets (cached with the corpus, so
# nothing is trained here); a detector above it in the tables beats the
# challenge's 2019 baseline. On the real datasets (the full profile) the audit
# does not run, and the row is absent.

# %%
sets = leaderboard.trial_sets(paths.data, la21_phase, max_trials)
scored = leaderboard.score_all(entries, sets, paths.out / "scores", config.resolve_device(device))
scored += leaderboard.baseline_scored(paths.data, sets)
per_run = leaderboard.table(scored, sets, bootstrap)
summary = leaderboard.summary(per_run)

# %% [markdown]
# ## The leaderboard
#
# EER, min t-DCF and minDCF rank the systems; actDCF and $C_\mathrm{llr}$ say how
# usable their raw scores are as likelihood ratios. Rates in percent; the EER's
# 95 % interval is a bootstrap over the trials (the results file holds one for
# every metric).

# %%
display(Markdown(report.profile_banner(profile)))
for name in sets:
    display(Markdown(leaderboard.set_heading(sets, name)))
    display(leaderboard.display_table(summary, per_run, name))

# %%
leaderboard.complexity_table(summary)

# %% [markdown]
# The DET curves of the same runs, on normal-deviate axes as the official plots
# draw them:

# %%
for name in sets:
    systems = leaderboard.det_systems(scored, sets, name, seeds[0])
    display(plots.plot_det(systems, title=f"DET, {name}", limits=(0.5, 80.0)))

# %% [markdown]
# ## EER per attack family
#
# Each family's spoofed trials (text-to-speech, voice conversion, vocoder
# copy-synthesis, as the corpus manifest groups its attack systems) against
# every bona fide trial of the same set: which kinds of attack each detector
# misses.

# %%
families = attack_families(paths.data)
fam = leaderboard.family_table(scored, sets, families)
display(leaderboard.family_pivot(fam))

# %% [markdown]
# ## The floor the voice-conversion attacks set
#
# Every detector misses most voice-conversion (VC) spoofs, whatever its front
# end. How much of each pooled EER do they account for? Rejecting every spoof
# outside the VC family (setting its score below all others) and recomputing
# the pooled EER gives a floor that no improvement on the other attacks can
# break: the EER the VC spoofs alone hold the detector at.

# %%
floor = leaderboard.family_floor(scored, sets, families, "VC")
display(leaderboard.floor_table(floor))
display(Markdown(leaderboard.floor_sentence(floor)))

# %%
display(Markdown(leaderboard.sentence(summary, sets, profile)))

# %% [markdown]
# ## The literature's best, on the real data
#
# For scale: the best published single systems on the real ASVspoof releases,
# AASIST and AASIST-L {cite}`aasist`, wav2vec 2.0 XLS-R with AASIST
# {cite}`xlsr_aasist`, and the L-ResNetSE of study 03's source {cite}`liao2021`.
# These are the papers' figures on the real LA 2019 and LA 2021 eval sets, not
# measurements of this book, and the embedded corpus is neither those sets nor
# as large; the comparison says how far the book's stand-ins and short training
# runs are from the state of the art, not which method is better.

# %%
leaderboard.literature_table()

# %% [markdown]
# ## Results file
#
# Every number above goes, as data, to `build/results/05_leaderboard.json`.

# %%
print("wrote", leaderboard.save_results(per_run, sets, fam, floor, profile, paths, device))
