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
# # The embedded corpus
#
# [![Open in Colab](../book/_static/colab-badge.svg)](https://colab.research.google.com/github/asvnb/asvnb/blob/main/notebooks/00_embedded_corpus.ipynb)
#
# None of the datasets the four studies use can be downloaded on the machines
# this book is built and tested on, yet every study must run for real. So the
# package builds a small corpus itself (`asvnb data synth`), and writes it in
# the exact on-disk layouts of the real datasets: ASVspoof 2019 LA
# {cite}`asvspoof2019` with its CM and ASV protocols and ASV scores, the
# ASVspoof 2021 LA evaluation set {cite}`asvspoof2021` with its keys, the Common
# Voice delta release {cite}`commonvoice`, Kaggle's DEEP-VOICE {cite}`deepvoice`,
# the Imitation set {cite}`imitation`, MUSAN {cite}`musan` and RIRS_NOISES
# {cite}`rirs`. The studies read it with the same adapters that
# read the real data on Colab.
#
# - **Bona fide speech is real**: recordings of professional and volunteer
#   speakers that Debian packages ship (the Asterisk voice prompts, KLettres and
#   KTuberling), decoded to 16 kHz.
# - **Every spoofed file is generated**, as in the real set, by a system that
#   makes the waveform: neural, statistical-parametric and formant
#   text-to-speech, unit concatenation, voice conversion through a vocoder, and
#   vocoder copy-synthesis (WORLD {cite}`world`, pulse/noise, LPC, Griffin-Lim, phase
#   vocoder, MFCC inversion). Filtering or equalising a human recording is
#   never called an attack.
# - **Spoofs target the bona fide speakers**, as in LA: each speaker is the
#   target of the same share of every attack; TTS output is converted toward
#   the target's F0 and spectral envelope; TTS reads the kind of text the
#   target's own prompts hold (digits, letters, syllables) in the target's
#   language. So neither the voice, the language nor the text gives the label
#   away. The audit at the end measures it.
# - **Every file, bona fide or spoofed, goes through the same final channel**
#   (silence trimming and padding, a -60 dB noise floor, the 50-7000 Hz band of
#   the Asterisk prompts, loudness normalisation), so that no class can be told
#   from level, duration, silence or bandwidth alone. The bona fide recordings
#   keep the coding their packages ship them in (G.722 for Asterisk, Vorbis for
#   KDE): a trait of their recording chain, as the real set's bona fide speech
#   has the traits of its studio. The first version of this corpus sent every
#   file through G.722 as well; its coding noise hid most vocoder artefacts
#   from the challenge's baseline, so the second version does not.
#
# Numbers measured on this corpus say how a method behaves on a small corpus
# with these attacks; they are not estimates of the real datasets' numbers.

# %% tags=["parameters"]
# fmt: off
profile = "embedded"  # {embedded, full, ci}: embedded builds/reads the generated corpus, ci its tiny scale (make test); full points at the real data
data_root = None  # str | None: None is data/embedded (the corpus `asvnb data synth` builds)
scale = "small"  # {tiny, small, medium}: corpus scale to build if missing (the book and CI use small)
seed = 0  # int: corpus seed
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
from IPython.display import Markdown, display

from asvnb import plots, report
from asvnb.studies import corpus_audit
from asvnb.studies import embedded_corpus as ec

root, manifest = ec.setup(profile, data_root, scale, seed)

# %% [markdown]
# ## How it is built
#
# `asvnb data synth --scale small` (what the book and CI use) decodes only the
# recordings the scale needs, renders every file in batches on all cores, and
# writes `MANIFEST.json` last; files already present are not rebuilt, so an
# interrupted build resumes. The scale's sizes:

# %%
display(Markdown(ec.scale_summary(manifest)))
ec.scale_table(manifest)

# %% [markdown]
# ## Where the speech comes from, and the licences
#
# The Asterisk prompts are recorded by a few professional voices, each in one
# or two languages (Allison speaks both the English and the Spanish prompts: she
# counts as **one** speaker, never on both sides of a split). KLettres and
# KTuberling folders are read by KDE volunteers, one folder per language;
# some KLettres folders mix two readers, so a folder is one "speaker" in the
# protocols but may hold two voices. Every LA speaker ID maps to one source
# folder, and the splits are speaker-disjoint.

# %%
ec.sources_table(manifest)

# %%
ec.speakers_table(manifest)  # refuses splits that share a speaker's recordings

# %% [markdown]
# ## ASVspoof 2019 LA: files per split and attack
#
# As in the real set, the training and development parts hold attacks
# A01-A06, and the evaluation part holds A07-A19: A16 and A19 are the methods
# of A04 and A06 again, the others are systems never seen in training. As in
# the real set, those are built from the training systems' parts in new
# combinations: A02's smoothed parameter trajectories, A03's pulse/noise
# vocoder, A05's conversion and A06's LPC vocoder meet new front ends (formant
# synthesis, copy-synthesis of the target's own speech, a phase vocoder, MFCC
# inversion) and a new waveform generator (Griffin-Lim), so what training
# teaches carries over. The third version of the corpus chose them so that
# most also leave artefacts below 4 kHz (over-smoothed envelopes and F0, buzzy or
# noise-like excitation), which the 2021 set's narrowband codecs keep: in the
# second version, copy-synthesis and the phase vocoder left traces that only
# the top band showed, and the baseline was at chance under A-law and mu-law.

# %%
counts = ec.la_counts(root)
counts

# %%
ec.systems_table(manifest, counts)

# %%
ec.la_durations(root)

# %% [markdown]
# ## The other datasets

# %%
ec.other_datasets_table(manifest)

# %% [markdown]
# The 2021 LA evaluation trials are 2019-style evaluation utterances sent
# through a transmission codec, as in the real 2021 set. The real set has seven
# conditions (LA-C1 to C7: none; A-law VoIP, 8 kHz; PSTN, 8 kHz; G.722 VoIP,
# 16 kHz; mu-law VoIP, 8 kHz; GSM, 8 kHz; Opus VoIP, 16 kHz), so about three
# trials in seven keep a wideband signal. Ours draws five of them, each as
# often: none, A-law and mu-law at 8 kHz, G.722 and Opus (libopus in its VoIP
# mode at 16 kbit/s) at 16 kHz. Until the fourth version of the corpus the
# fifth draw was a second A-law instead of Opus: three trials in five were
# narrowband, more than in the real set. PSTN and GSM are not drawn: no PSTN
# line is simulated here, and on GSM the baseline measured 43-46 % EER, above
# the book's bar of 40 % per condition, so its share would make the pooled
# figure harder than the real set's for that reason alone.

# %%
ec.la2021_summary(root)

# %% [markdown]
# ## One example per system
#
# 64-band log-mel spectrograms (25 ms / 10 ms) of one development or
# evaluation file per system (bona fide first). Every file shares the 7 kHz band limit of the channel.

# %%
plots.plot_spectrogram_grid(ec.log_mel_examples(root), ncols=5)

# %% [markdown]
# ## The audit: shortcuts, and the challenge's own baseline
#
# Two questions decide whether a detector's number on this corpus means
# anything {cite}`asvspoof2019`.
#
# **Can the label be read off something that is not spoofing?** Each probe is a
# class-balanced logistic regression trained on LA train and scored on LA eval
# (balanced accuracy; chance is 0.5; the book's limit is 0.60) on one family of
# nuisance features: the file's duration; its level; its silence (share of
# 10 ms frames 40 dB below the loudest, leading and trailing silence); its
# energy in the bands 0-4, 4-7 and above 7 kHz; whose voice it is (the GE2E
# embedding of the pretrained resemblyzer encoder {cite}`ge2e`,
# reduced by an LDA fitted on the bona fide training speakers to the
# directions that tell speakers apart); and the speaker's language.
#
# **Does every attack leave an artefact, at the difficulty of the real set?**
# The challenge's baseline front end, LFCC {cite}`lfcc`
# (20 linear filters, 20 coefficients, $\Delta$ and $\Delta^2$, 20 ms windows),
# with one diagonal GMM per class trained on LA train, scores a trial by the
# mean frame log-likelihood ratio
#
# $$ s(X) = \frac{1}{T}\sum_{t=1}^{T} \log p(x_t \mid \lambda_{\text{bona fide}})
#          - \log p(x_t \mid \lambda_{\text{spoof}}) . $$ (lfcc-gmm-llr)
#
# On the real 2019 LA evaluation set, where most attacks are unseen in
# training, it reached 8.09 % EER. Every 95 % interval below is a bootstrap
# over trials.

# %%
audit = corpus_audit.run_audit(root, progress=False)
display(Markdown(report.profile_banner(profile)))
corpus_audit.probe_table(audit)

# %%
corpus_audit.baseline_table(audit)

# %%
rows, path = ec.save_audit(audit, profile, root)
display(Markdown(ec.audit_summary(rows, path)))

# %% [markdown]
# The pooled check below asks the older, simpler question on all LA files at
# once (5-fold cross-validation on duration, level and band energies), as the
# test suite does on its tiny corpus.

# %%
check = ec.shortcut_check(root)
display(Markdown(ec.shortcut_summary(check)))
check["means"]

# %% [markdown]
# ## Pointing a study at the real datasets
#
# Every study notebook takes `profile = "full"` and `data_root = "<folder>"`,
# where the folder holds each real dataset under the name its archive unpacks
# to (`LA/`, `ASVspoof2021_LA_eval/` and `LA-keys-stage-1/`,
# `cv-corpus-14.0-delta-2023-06-23/`, `KAGGLE/`,
# `Fake_voice_recordings_Imitation/`, `musan/`, `RIRS_NOISES/`): the same
# names this corpus uses. The chapter *Rerun a study on Colab* lists where to
# download each one and its licence.
