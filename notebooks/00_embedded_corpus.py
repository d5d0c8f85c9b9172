# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The embedded corpus
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/asvnb/asvnb/blob/main/notebooks/00_embedded_corpus.ipynb)
#
# None of the datasets the four studies use can be downloaded on the machines
# this book is built and tested on, yet every study must run for real. So the
# package builds a small corpus itself (`asvnb data synth`), and writes it in
# the exact on-disk layouts of the real datasets: ASVspoof 2019 LA with its CM
# and ASV protocols and ASV scores, the ASVspoof 2021 LA evaluation set with
# its keys, the Common Voice delta release, Kaggle's DEEP-VOICE, the Imitation
# set, MUSAN and RIRS_NOISES. The studies read it with the same adapters that
# read the real data on Colab.
#
# - **Bona fide speech is real**: recordings of professional and volunteer
#   speakers that Debian packages ship (the Asterisk voice prompts, KLettres and
#   KTuberling), decoded to 16 kHz.
# - **Spoofed speech is made the way real attacks are made**, each method a
#   labelled system ID: neural, statistical-parametric, HMM, concatenative and
#   formant text-to-speech, WORLD-vocoder and LPC voice conversion toward the
#   target speaker, Griffin-Lim and vocoder copy-synthesis.
# - **Every file, bona fide or spoofed, goes through the same final channel**
#   (silence trimming and padding, band limit, loudness normalisation, the same
#   G.722 coding the bona fide recordings carry), so that no class can be told
#   from level, duration or bandwidth alone. The last section checks it.
#
# Numbers measured on this corpus say how a method behaves on a small corpus
# with these attacks; they are not estimates of the real datasets' numbers.

# %% tags=["parameters"]
profile = "embedded"  # embedded: build/read the generated corpus; full: describe nothing, point at the real data
data_root = None  # None: data/embedded (the corpus `asvnb data synth` builds)
scale = "small"  # corpus scale to build if missing: small (book, CI) or medium
seed = 0  # corpus seed

# %%
from pathlib import Path

from IPython.display import Markdown, display

from asvnb import config, features, plots
from asvnb.data.synth import build_corpus
from asvnb.studies import embedded_corpus as ec

config.seed_everything(seed)
root = Path(data_root) if data_root else config.embedded_root()
if profile != "embedded":
    raise ValueError("this chapter describes the embedded corpus; with the real datasets, see 'Rerun a study on Colab'")
manifest = build_corpus(root, scale=scale, seed=seed, progress=False)  # a no-op when the corpus is complete
config.show_fingerprint(config.fingerprint(root, device="cpu"))

# %% [markdown]
# ## How it is built
#
# `asvnb data synth --scale small` (what the book and CI use) decodes only the
# recordings the scale needs, renders every file in batches on all cores, and
# writes `MANIFEST.json` last; files already present are not rebuilt, so an
# interrupted build resumes. The scale's sizes:

# %%
display(Markdown(f"Scale **{manifest['scale']}**, seed {manifest['seed']}; "
                 f"last full build took {manifest.get('build_seconds', float('nan')):.0f} s on this machine."))
ec.pd.Series(manifest["scale_parameters"]).to_frame("value")

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
speakers = ec.speakers_table(manifest)
assert not set.intersection(*[set(g["recordings from"]) for _, g in speakers.groupby("split")]), "splits share a speaker"
speakers

# %% [markdown]
# ## ASVspoof 2019 LA: files per split and attack
#
# As in the real set, the training and development parts hold attacks
# A01-A06, and the evaluation part holds A07-A19: A16 and A19 are the methods
# of A04 and A06 again, the others are methods never seen in training.

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
# through a transmission codec, as in the real 2021 set:

# %%
ec.la2021_summary(root)

# %% [markdown]
# ## One example per system
#
# 64-band log-mel spectrograms (25 ms / 10 ms) of one development or
# evaluation file per system (bona fide first). Every file shares the 7 kHz band limit of the channel.

# %%
examples = ec.examples_per_system(root)
specs = [(name, features.log_mel(wav, "source002", n_mels=64, instance_norm=False)) for name, wav in examples]
plots.plot_spectrogram_grid(specs, ncols=5)

# %% [markdown]
# ## Can the class be told without listening?
#
# If bona fide and spoofed files differed in duration, level or bandwidth, a
# detector could learn that instead of spoofing artefacts. A logistic
# regression on exactly those three numbers, cross-validated over all LA
# files, should stay near chance (balanced accuracy 0.5); the test suite fails
# above 0.68.

# %%
check = ec.shortcut_check(root)
display(Markdown(f"Balanced accuracy on (duration, level, energy above 7 kHz): "
                 f"**{check['balanced_accuracy']:.3f}** over {check['n']} files (chance: 0.5)."))
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
