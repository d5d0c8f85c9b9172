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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/asvnb/asvnb/blob/main/notebooks/01_cnn_vs_resnet50.ipynb)
#
# **The source** (a course report) trains two countermeasures on spectrograms
# of ASVspoof 2019 LA (bona fide and spoofed) and Common Voice (bona fide)
# speech, labels genuine 0 / spoofed 1: a plain CNN (convolution and pooling
# layers, then fully connected ones) and an ImageNet ResNet50 whose last layer is
# replaced by two outputs and which is fine-tuned whole. It also describes a
# "CNN-based ASV system" trained with speaker identities as targets. It reports
# accuracy, precision, recall and F1 only, on one V100, with two contradictory
# sets of CNN figures, and states none of its spectrogram, clip or optimiser
# settings.
#
# **This chapter** makes it a measured comparison: both countermeasures trained
# through the shared trainer over several seeds, scored with the field's metrics
# (EER, and the min t-DCF that needs an ASV system), and the ASV system built:
# a CNN speaker classifier whose embeddings verify held-out speakers, with the
# pretrained GE2E encoder of `resemblyzer` beside it, so that the reader sees
# what spoofed speech does to a verifier with no countermeasure.

# %% tags=["parameters"]
profile = "embedded"  # {embedded, full}
data_root = None  # str | None: None is the profile's default (the embedded corpus); required for full
epochs = None  # int | None: None is the profile's default (embedded: a few; full: 20)
image_size = None  # int | None: None is the profile's default (embedded: CNN 96, ResNet50 48; full: 224); a number sets both
seeds = [0, 1, 2]  # list[int]: one training run per seed; results are mean +- std over them
device = "auto"  # {auto, cpu, cuda, mps}
threads = None  # int | None: torch CPU threads (None: torch's default, every core); 1 avoids hand-off stalls on a busy machine
weights = "default"  # str | None: ResNet50 backbone: "default" (embedded: random init; full: "imagenet"), None, "imagenet" or a state_dict path
ge2e = True  # bool: also score with resemblyzer's pretrained GE2E speaker encoder (a reference verifier)

# %%
# %matplotlib inline
import pandas as pd
import torch
from IPython.display import Markdown, display

from asvnb import config, metrics, plots, report
from asvnb.studies import cnn_vs_resnet50 as study
from asvnb.studies import spectrogram_common as common

overrides = {} if image_size is None else {"size": image_size}
cfg = study.CnnVsResnet50Config.for_profile(profile, data_root, epochs=epochs, weights=weights, device=device,
                                            **overrides)
config.seed_everything(seeds[0])
torch.set_num_threads(threads or torch.get_num_threads())
config.show_fingerprint(config.fingerprint(cfg.paths.data, config.resolve_device(device)))

# %% [markdown]
# ## Countermeasure data
#
# Every utterance is cropped or repeat-padded to 4 s and drawn as a coloured
# spectrogram image (32 ms Hann frames, half overlap, viridis; the tensor route
# of the spectrogram-image chapter). Training: LA train plus the Common Voice
# clips of half of its speakers; validation: LA dev; test: LA eval plus the other
# Common Voice speakers' clips, so that no Common Voice speaker is on both sides.

# %%
sets = study.cm_image_sets(cfg)  # per countermeasure, at its image size
display(study.count_table(sets["CNN"]))
train = sets["CNN"]["train"]
shown_ids = [int(train.labels.argmin()), int(train.labels.argmax()), train.groups.index(study.CV)]
plots.plot_spectrogram_grid([(f"{train.groups[i].split()[0]} {study.TASK.names[int(train.labels[i])]}",
                              train.images[i]) for i in shown_ids], ncols=3)

# %% [markdown]
# ## The two countermeasures
#
# The plain CNN: three 3 x 3 convolution + ReLU + max-pooling blocks (16, 32, 64
# channels), fully connected 1024 -> 256 -> 128, and a two-way output. ResNet50:
# torchvision's, last layer replaced by two outputs, every layer trained. Adam,
# cross entropy. The source names no rule for choosing an epoch; ours keeps the
# one of lowest validation EER (F1 of the spoofed class, the majority in LA dev,
# would crown an epoch that calls everything spoofed).

# %%
notes = {name: f"{s.epochs} epochs, {cfg.sizes[name]} x {cfg.sizes[name]} images, lr {s.lr:g}, batch {s.batch_size}"
         for name, s in cfg.setups.items() if name != "ASV CNN"}
notes["ResNet50"] += ", " + {None: "random init (no ImageNet weights offline)", "imagenet": "ImageNet weights"}.get(
    cfg.weights, f"weights {cfg.weights}")
display(Markdown("\n".join(f"- **{k}**: {v}" for k, v in notes.items())))
runs = {name: study.train_cms(cfg, name, sets[name], seeds) for name in study.CM_MODELS}

# %%
for name, rs in runs.items():
    display(plots.plot_history(common.median_run(rs, "test").history.drop(columns=["lr", "seconds"]), title=name))
for name, rs in runs.items():
    p = common.median_run(rs, "test").predictions["test"]
    display(plots.plot_confusion(p.labels, p.predicted, labels=[study.GENUINE, study.SPOOFED],
                                 class_names=["genuine", "spoofed"], title=f"{name}, test"))
display(plots.plot_det({name: common.pooled_scores(rs, "test", study.TASK.bonafide) for name, rs in runs.items()},
                       title="countermeasures on the test set (all seeds pooled)"))

# %% [markdown]
# ## The ASV side: a CNN speaker verifier
#
# The same kind of CNN, on 40 log-mel bands of 2 s crops, is trained to name the
# LA training speakers from their bona fide speech. Its 128-dimensional
# penultimate layer then embeds utterances of speakers it has never heard: a
# trial's score is the cosine between the test embedding and the mean of the
# claimed speaker's enrolment embeddings. Two test beds: the LA eval ASV
# protocol (held-out speakers, with target, non-target and spoofed trials) and,
# as in the source, Common Voice (target and non-target only).

# %%
speaker_data = study.speaker_data(cfg)
asv_models = [study.train_speaker_cnn(cfg, speaker_data, seed) for seed in seeds]
display(plots.plot_history(asv_models[0][1].drop(columns=["lr", "seconds"]), title="speaker CNN"))
verifiers = [study.cnn_verifier(model, cfg) for model, _ in asv_models]
la_asv = [study.la_asv_scores(v, cfg) for v in verifiers]
cv_asv = [study.cv_asv_scores(v, cfg) for v in verifiers]
shown = {"CNN (ours), LA eval": la_asv[0]}
if ge2e:
    reference = study.ge2e_verifier(cfg)
    shown["GE2E (resemblyzer), LA eval"] = study.la_asv_scores(reference, cfg)
    ge2e_cv = study.cv_asv_scores(reference, cfg)
display(study.asv_summary(shown).round(2))
display(study.plot_asv_scores(shown))

# %% [markdown]
# Spoofed trials score like targets, not like impostors: at its EER threshold a
# verifier with no countermeasure accepts a large share of the spoofs. That is
# the cost the t-DCF below charges to each countermeasure.

# %% [markdown]
# ## Results beside the source's

# %%
metric_names = ("accuracy", "precision", "recall", "f1", "eer")
rows = []
for name, rs in runs.items():
    rows += common.comparison_rows(name, rs, study.SOURCE_FIGURES[name], ("test",), metric_names, note=notes[name])
    rows.append({"model": name, "metric": "LA eval min t-DCF (ASV: our CNN verifier)", "source": None,
                 "ours": [study.min_tdcf(r, asv) for r, asv in zip(rs, la_asv)], "note": notes[name]})
table = report.comparison_table(rows, profile)
asv_rows = [{"model": "CNN speaker verifier", "metric": f"{bed} EER", "source": None, "percent": True,
             "ours": [metrics.eer(s.target, s.nontarget)[0] for s in scores],
             "note": f"{cfg.setups['ASV CNN'].epochs} epochs on the LA training speakers"}
            for bed, scores in (("LA eval", la_asv), ("Common Voice", cv_asv))]
if ge2e:
    asv_rows += [{"model": "GE2E (resemblyzer), pretrained", "metric": f"{bed} EER", "source": None, "percent": True,
                  "ours": [metrics.eer(s.target, s.nontarget)[0]], "note": "reference verifier, one model"}
                 for bed, s in (("LA eval", shown["GE2E (resemblyzer), LA eval"]), ("Common Voice", ge2e_cv))]
asv_table = report.comparison_table(asv_rows, profile)
display(Markdown(report.profile_banner(profile)))
display(Markdown("**Countermeasures** (precision, recall and F1 of the spoofed class; test = LA eval + "
                 "held-out Common Voice speakers; t-DCF on LA eval)"))
display(table)
display(Markdown("**Speaker verification** (the source reports no ASV figure)"))
display(asv_table)
print("saved", report.save_results(pd.concat([table, asv_table], ignore_index=True), "01_cnn_vs_resnet50"))

# %% [markdown]
# How to read the columns: the source's figures come from the real datasets on a
# V100, with its own (unstated) settings; in the embedded profile ours come from
# a few hundred generated utterances, small images, a few epochs and, for
# ResNet50, random initialisation (see the note column): they show the pipeline
# and the metrics the source left out, not how well either model can do. The
# verifier table does not depend on that caveat as much: the pretrained GE2E
# encoder shows what a real speaker encoder does with the same trials, spoofs
# included.
