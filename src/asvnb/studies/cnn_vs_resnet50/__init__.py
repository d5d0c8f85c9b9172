"""Study 01: a spectrogram CNN vs an ImageNet ResNet50 as countermeasures, and a CNN speaker verifier.

Countermeasure (CM) data as the source describes it: ASVspoof 2019 LA bona
fide and spoofed utterances plus Common Voice bona fide clips, labels genuine
0 / spoofed 1 (precision, recall and F1 of the spoofed class, sklearn's
default positive label). The source gives no spectrogram settings, clip length
or optimiser: ours are in ``configs/01_cnn_vs_resnet50/``. The ASV side is
the source's "CNN-based ASV system": a CNN trained with the LA training
speakers as targets, whose penultimate layer embeds utterances of held-out
speakers for cosine scoring; the GE2E encoder of ``resemblyzer`` stands beside
it as a reference verifier. Its LA eval scores give the t-DCF of both CMs.

Modules: :mod:`.settings` (settings, names, the source's figures, the
notebook's start), :mod:`.countermeasures` (image sets, training, attacks,
cost), :mod:`.verification` (the ASV side), :mod:`.tables` (results rows and
tables). The notebook reads them all through this package.
"""

from asvnb.data.asvspoof import LA2019, ASVScores
from asvnb.studies.cnn_vs_resnet50.countermeasures import (
    add_attack_splits,
    attack_groups,
    attack_table,
    attack_text,
    baseline_scores,
    cm_image_sets,
    cm_images,
    cost_table,
    cost_text,
    count_table,
    cv_split,
    sample_panels,
    seconds_per_image,
    train_cms,
)
from asvnb.studies.cnn_vs_resnet50.settings import (
    CM_MODELS,
    CV,
    GENUINE,
    LA,
    SOURCE_FIGURES,
    SOURCE_NOTES,
    SOURCE_NUMBERS,
    SPOOFED,
    STUDY,
    TASK,
    CnnVsResnet50Config,
    setup,
    setup_notes,
)
from asvnb.studies.cnn_vs_resnet50.tables import (
    BASELINE_DIFFERENCE,
    NO_CV,
    SHORTCUT_DIFFERENCE,
    baseline_difference_row,
    comparison_tables,
    cv_vs_la_bonafide,
    key_rows,
    key_text,
    la_eval_frame,
    result_rows,
    save_tables,
    shortcut_difference_row,
    shortcut_rows,
    shortcut_table,
    shortcut_text,
)
from asvnb.studies.cnn_vs_resnet50.verification import (
    Verifier,
    asv_rows,
    asv_summary,
    cnn_verifier,
    cv_asv_scores,
    ge2e_verifier,
    la_asv_scores,
    min_tdcf,
    plot_asv_scores,
    speaker_data,
    spoofs_accepted_text,
    tdcf_fn,
    train_speaker_cnn,
)

__all__ = [
    "BASELINE_DIFFERENCE",
    "baseline_difference_row",
    "baseline_scores",
    "NO_CV",
    "SHORTCUT_DIFFERENCE",
    "shortcut_difference_row",
    "ASVScores",
    "CM_MODELS",
    "CV",
    "GENUINE",
    "LA",
    "LA2019",
    "SOURCE_FIGURES",
    "SOURCE_NOTES",
    "SOURCE_NUMBERS",
    "SPOOFED",
    "STUDY",
    "TASK",
    "CnnVsResnet50Config",
    "Verifier",
    "add_attack_splits",
    "asv_rows",
    "asv_summary",
    "attack_groups",
    "attack_table",
    "attack_text",
    "cm_image_sets",
    "cm_images",
    "cnn_verifier",
    "comparison_tables",
    "save_tables",
    "cost_table",
    "cost_text",
    "count_table",
    "cv_asv_scores",
    "cv_split",
    "cv_vs_la_bonafide",
    "ge2e_verifier",
    "key_rows",
    "key_text",
    "la_asv_scores",
    "la_eval_frame",
    "min_tdcf",
    "plot_asv_scores",
    "result_rows",
    "sample_panels",
    "seconds_per_image",
    "setup",
    "setup_notes",
    "shortcut_rows",
    "shortcut_table",
    "shortcut_text",
    "speaker_data",
    "spoofs_accepted_text",
    "tdcf_fn",
    "train_cms",
    "train_speaker_cnn",
]
