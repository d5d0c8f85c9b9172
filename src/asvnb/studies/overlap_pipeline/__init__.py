"""Study 02 (MSc thesis): spoofed speech in two-speaker overlap, SepFormer separation + WavLM detector.

The source mixed ASVspoof 2019 LA utterances in pairs (Appendix A.1), separated
each mixture with ``speechbrain/sepformer-wsj02mix``, scored both streams with
the WavLM detector ``abhishtagatya/wavlm-base-960h-asv19-deepfake``, matched
streams to labels by the better permutation, and fine-tuned the detector on
separated streams with the separator frozen. Here the separated streams are
computed once and cached (:mod:`.separate_and_score`); the oracle separator and
the unseparated mixture tell the loss due to overlap from the loss due to
separation.

Modules: :mod:`.settings` (the profiles and the notebook's setup),
:mod:`.model_sources` (hub models or stand-ins), :mod:`.separate_and_score`
(the pipeline), :mod:`.evaluation` (mixtures and measurements),
:mod:`.finetune`, :mod:`.tables`, :mod:`.detector_generalisation` (why the detector misses the Griffin-Lim
attacks) and :mod:`.stream_quality` (why a better separator can give
worse streams, read from its benchmark's record).
"""

from asvnb.studies.overlap_pipeline.detector_generalisation import (
    baseline_eers,
    data_chapter_baseline,
    generalisation_rows,
    generalisation_table,
    generalisation_text,
    load_generalisation,
)
from asvnb.studies.overlap_pipeline.evaluation import (
    Pretrained,
    clean_baseline_scores,
    clean_eval,
    describe_wavlm,
    la,
    make_mixtures,
    saved_mixtures,
    score_finetuned,
    score_pretrained,
    separate_all,
    si_snr_summary,
    si_snr_table,
    si_snri_by_separator,
    si_snri_values,
    stream_eer_ci,
)
from asvnb.studies.overlap_pipeline.finetune import (
    EpochShuffle,
    finetune,
    finetune_dir,
    finetune_settings,
    lr_factor,
)
from asvnb.studies.overlap_pipeline.model_sources import (
    detector_source,
    ensure_standins,
    make_separators,
    models_table,
    sepformer_source,
    standin_curves,
    standin_info,
)
from asvnb.studies.overlap_pipeline.separate_and_score import (
    PipelineResult,
    StreamCache,
    ensure_streams,
    run_pipeline,
)
from asvnb.studies.overlap_pipeline.settings import SPLITS, STUDY, OverlapConfig, setup
from asvnb.studies.overlap_pipeline.stream_quality import (
    load_stream_quality,
    stream_quality_rows,
    stream_quality_table,
    stream_quality_text,
)
from asvnb.studies.overlap_pipeline.tables import (
    CLEAN_BASELINE,
    SOURCE,
    STREAM_METRICS,
    clean_baseline_row,
    clean_row,
    clean_table,
    clean_text,
    comparison_rows,
    det_systems,
    difference_rows,
    difference_sentences,
    history_table,
    key_rows_table,
    mixture_counts,
    ordering_sentence,
    pairing_table,
    pipeline_table,
    result_rows,
    results_table,
    rows_3class,
    rows_stream,
    si_snr_display,
)

__all__ = [
    "SOURCE",
    "SPLITS",
    "STREAM_METRICS",
    "STUDY",
    "EpochShuffle",
    "OverlapConfig",
    "PipelineResult",
    "Pretrained",
    "StreamCache",
    "CLEAN_BASELINE",
    "clean_baseline_row",
    "clean_baseline_scores",
    "clean_eval",
    "clean_row",
    "clean_text",
    "clean_table",
    "difference_rows",
    "difference_sentences",
    "comparison_rows",
    "describe_wavlm",
    "det_systems",
    "detector_source",
    "ensure_standins",
    "ensure_streams",
    "finetune",
    "finetune_dir",
    "finetune_settings",
    "history_table",
    "key_rows_table",
    "la",
    "load_stream_quality",
    "load_generalisation",
    "baseline_eers",
    "data_chapter_baseline",
    "generalisation_rows",
    "generalisation_table",
    "generalisation_text",
    "lr_factor",
    "make_mixtures",
    "make_separators",
    "mixture_counts",
    "models_table",
    "standin_curves",
    "stream_quality_rows",
    "stream_quality_table",
    "stream_quality_text",
    "ordering_sentence",
    "pairing_table",
    "pipeline_table",
    "result_rows",
    "results_table",
    "rows_3class",
    "rows_stream",
    "run_pipeline",
    "saved_mixtures",
    "score_finetuned",
    "score_pretrained",
    "separate_all",
    "sepformer_source",
    "setup",
    "si_snr_display",
    "si_snr_summary",
    "si_snr_table",
    "si_snri_by_separator",
    "si_snri_values",
    "standin_info",
    "stream_eer_ci",
]
