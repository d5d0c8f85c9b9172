"""Study 03: a lightweight countermeasure by GE2E pre-training, adversarial examples and distillation.

The experiments of the source's three tables, per seed:

1. GE2E pre-training of the teacher G-ResNetSE on speaker labels, one batch of
   N speakers x M utterances per epoch (:class:`asvnb.data.samplers.GE2EBatchSampler`,
   loss on the pooled embedding, learnable w and b: :class:`asvnb.train.steps.GE2EPretrainer`).
2. Fine-tuning with NLL over the 8 classes (bona fide, A01-A06, adversarial),
   Adam 3e-4 decayed x0.95 every two epochs, MUSAN + RIR on the fly, of four
   teachers: from scratch (Table 1, "NLL"), from the GE2E model without AEG
   (Table 1 "GE2E + NLL" = Table 2 "None"), with static AEG (BIM run once with
   the GE2E model, :func:`static_aeg`) and with active AEG (BIM run before every
   epoch with the current model, :class:`ActiveAEG`, the trainer's
   ``on_epoch_start`` hook).
3. Distillation of one student L-ResNetSE from each of the three GE2E teachers
   (gamma 0.5, T 5).
4. Evaluation of all seven on the ASVspoof 2021 LA eval keys (phase ``eval``):
   min t-DCF (2021 revised, with the ASV scores of the keys), EER, per-attack
   EER and DET curves.

Everything trains through :class:`asvnb.train.Trainer`, one output folder per
model under ``cfg.paths.out / <hash of the training settings> / seed<k> / <name>``,
so a rerun with the same settings resumes (or skips what has finished) and one
with other settings starts afresh. What the source does not state (crop length,
epochs, batch size, how many utterances AEG attacks, what the student trains on)
is a setting in ``asvnb/configs/03_ge2e_aeg_kd/source.yaml`` with the choice made
here in its comment.

Modules: ``settings`` (the configuration and its departures from the source),
``sets`` (the data), ``speaker`` (speaker verification), ``aeg`` (static and
active AEG), ``training``, ``evaluation`` (scores and detector cards), ``runs``
(setup, one seed, all seeds), ``complexity``, ``tables``, ``rows`` (result
rows), ``figures`` and ``conclusions`` (the claims); ``published`` holds the source's figures;
``training_length`` reads the teacher's training-length benchmark.
"""

from asvnb.data.audio_cache import AudioCache, CachedCMDataset
from asvnb.data.samplers import EpochSampler, GE2EBatchSampler
from asvnb.studies.ge2e_aeg_kd import (
    aeg,
    complexity,
    conclusions,
    evaluation,
    figures,
    published,
    rows,
    runs,
    sets,
    settings,
    speaker,
    tables,
    training,
)
from asvnb.studies.ge2e_aeg_kd.aeg import (
    AEG_RULES,
    ActiveAEG,
    aeg_scale_table,
    aeg_threshold,
    clean_similarity,
    static_aeg,
)
from asvnb.studies.ge2e_aeg_kd.complexity import (
    Complexity,
    complexity_rows,
    complexity_table,
    ratios_text,
)
from asvnb.studies.ge2e_aeg_kd.conclusions import claims, compare, difference_claims
from asvnb.studies.ge2e_aeg_kd.evaluation import (
    CARD_DEV_TRIALS,
    CMResult,
    describe_model,
    detector_name,
    evaluate,
    evaluate_dev,
)
from asvnb.studies.ge2e_aeg_kd.figures import plot_similarities
from asvnb.studies.ge2e_aeg_kd.rows import (
    BASELINE_DIFFERENCE,
    DIFFERENCES,
    baseline_difference_rows,
    cm_rows,
    difference_rows,
    groups,
    kept_row,
    result_rows,
    seed_mean_ci,
    speaker_rows,
)
from asvnb.studies.ge2e_aeg_kd.runs import (
    AEG_MODES,
    MODELS,
    TABLE1_MODELS,
    SeedRun,
    run_all,
    run_seed,
    setup,
)
from asvnb.studies.ge2e_aeg_kd.sets import (
    CLASS_OF,
    StudyData,
    aeg_pool,
    ge2e_trials,
    load_data,
    make_augmenter,
    sv_set,
    train_dataset,
)
from asvnb.studies.ge2e_aeg_kd.settings import STUDY, GE2EAEGKDConfig
from asvnb.studies.ge2e_aeg_kd.speaker import (
    SpeakerEER,
    embed_all,
    pair_scores,
    speaker_eer,
    speaker_eer_of,
)
from asvnb.studies.ge2e_aeg_kd.tables import (
    aeg_summary,
    aeg_table,
    breakdown_table,
    data_tables,
    dev_table,
    difference_table,
    ge2e_losses_text,
    key_figures,
    per_attack_table,
    save_tables,
    seeds_note,
    speaker_table,
    summary,
    table1_rows,
    table2_rows,
    table2_runs,
    table3_rows,
)
from asvnb.studies.ge2e_aeg_kd.training import fine_tune, pretrain_ge2e
from asvnb.studies.ge2e_aeg_kd.training_length import (
    load_training_length,
    training_length_rows,
    training_length_table,
    training_length_text,
)
from asvnb.train.adversarial import FineTuneSet, load_adversarial
from asvnb.train.steps import GE2EPretrainer

__all__ = [
    "BASELINE_DIFFERENCE",
    "baseline_difference_rows",
    "load_training_length",
    "training_length_rows",
    "training_length_table",
    "training_length_text",
    "ActiveAEG",
    "aeg",
    "AEG_MODES",
    "aeg_pool",
    "AEG_RULES",
    "aeg_scale_table",
    "aeg_summary",
    "aeg_table",
    "aeg_threshold",
    "AudioCache",
    "breakdown_table",
    "CachedCMDataset",
    "CARD_DEV_TRIALS",
    "claims",
    "difference_claims",
    "difference_table",
    "CLASS_OF",
    "clean_similarity",
    "cm_rows",
    "CMResult",
    "compare",
    "Complexity",
    "complexity",
    "complexity_rows",
    "complexity_table",
    "conclusions",
    "data_tables",
    "describe_model",
    "detector_name",
    "dev_table",
    "embed_all",
    "EpochSampler",
    "evaluate",
    "evaluate_dev",
    "evaluation",
    "figures",
    "fine_tune",
    "FineTuneSet",
    "ge2e_losses_text",
    "ge2e_trials",
    "GE2EAEGKDConfig",
    "GE2EBatchSampler",
    "GE2EPretrainer",
    "groups",
    "kept_row",
    "key_figures",
    "load_adversarial",
    "load_data",
    "make_augmenter",
    "MODELS",
    "pair_scores",
    "per_attack_table",
    "plot_similarities",
    "pretrain_ge2e",
    "published",
    "ratios_text",
    "result_rows",
    "DIFFERENCES",
    "difference_rows",
    "rows",
    "run_all",
    "run_seed",
    "runs",
    "seed_mean_ci",
    "SeedRun",
    "save_tables",
    "seeds_note",
    "sets",
    "settings",
    "setup",
    "speaker",
    "speaker_eer",
    "speaker_eer_of",
    "speaker_rows",
    "speaker_table",
    "SpeakerEER",
    "static_aeg",
    "STUDY",
    "StudyData",
    "summary",
    "sv_set",
    "TABLE1_MODELS",
    "table1_rows",
    "table2_rows",
    "table2_runs",
    "table3_rows",
    "tables",
    "train_dataset",
    "training",
]
