"""Study 04 ("ProtectYourVoice"): spectrogram images of 30 s segments, SimpleCNN vs ResNet18 transfer.

Data as the source built it (segment length ``seconds``, the source's 30 s in the
full profile, 5 s in the embedded one): DEEP-VOICE recordings cut into segments and
split 80/20 into train/test (the train part again 80/20 into train/val);
ASVspoof 2019 LA utterances concatenated per speaker and label, then cut into
segments, official train/dev/eval kept; the Imitation set (whole clips)
as the unseen test. Labels real 1 / fake 0, F1 with real as the positive class.
The source's slips are reproduced on demand (the class-dependent FFT size and
the segment split: :func:`leak_runs`; :func:`batch_averaged_metrics`;
:func:`source_weight_copy`) so the notebook can show what each one does.

Modules: :mod:`.settings` (settings, names, the source's figures, the
notebook's start), :mod:`.sets` (image sets and splits), :mod:`.training`
(runs per seed, the leak runs, new audio), :mod:`.slips` (the source's
slips), :mod:`.tables` (results rows and tables).
"""

from asvnb.data.deepvoice import source_recording
from asvnb.models.image_resnet import ResNet18Transfer
from asvnb.studies.spectrogram_resnet18.sets import (
    assemble,
    count_table,
    deepvoice_images,
    first_la_segment,
    imitation_images,
    la_images,
    load_sets,
    new_audio_examples,
    sample_panels,
    split_deepvoice,
    split_deepvoice_by_recording,
)
from asvnb.studies.spectrogram_resnet18.settings import (
    FAKE,
    REAL,
    STUDY,
    TASK,
    SpectrogramResNet18Config,
    setup,
    setup_notes,
    source_settings,
)
from asvnb.studies.spectrogram_resnet18.slips import (
    SOURCE_UNSEEN_BATCHES,
    batch_averaged_metrics,
    batch_mean_table,
    batch_mean_vs_whole,
    batch_table,
    source_weight_copy,
)
from asvnb.studies.spectrogram_resnet18.tables import (
    DATA,
    SYSTEMS,
    all_rows,
    comparison_table,
    key_frame,
    leak_frame,
    leak_rows,
    leak_text,
    metric_summary,
    real_share_text,
    result_rows,
    unseen_frame,
    unseen_rows,
    verdict_text,
)
from asvnb.studies.spectrogram_resnet18.training import (
    LeakRuns,
    deepvoice_splits,
    evaluation_sets,
    leak_runs,
    score_audio,
    split_overlap_text,
    train_models,
)

__all__ = [
    "FAKE",
    "REAL",
    "DATA",
    "LeakRuns",
    "ResNet18Transfer",
    "SOURCE_UNSEEN_BATCHES",
    "STUDY",
    "TASK",
    "SYSTEMS",
    "SpectrogramResNet18Config",
    "all_rows",
    "assemble",
    "batch_averaged_metrics",
    "batch_mean_table",
    "batch_mean_vs_whole",
    "batch_table",
    "comparison_table",
    "count_table",
    "deepvoice_images",
    "deepvoice_splits",
    "evaluation_sets",
    "first_la_segment",
    "imitation_images",
    "key_frame",
    "la_images",
    "leak_frame",
    "leak_rows",
    "leak_runs",
    "leak_text",
    "load_sets",
    "metric_summary",
    "new_audio_examples",
    "real_share_text",
    "result_rows",
    "sample_panels",
    "score_audio",
    "setup",
    "setup_notes",
    "source_recording",
    "source_settings",
    "source_weight_copy",
    "split_deepvoice",
    "split_deepvoice_by_recording",
    "split_overlap_text",
    "train_models",
    "unseen_frame",
    "unseen_rows",
    "verdict_text",
]
