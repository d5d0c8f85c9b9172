"""Training: the shared trainer (loop), the studies' losses, adversarial example generation, detector cards."""

from asvnb.train.detector import (
    DetectorCard,
    DetectorCardError,
    crop_or_pad,
    describe_detector,
    dev_threshold,
    image_frontend,
    read_card,
    read_detector_index,
    register_detector,
    segments,
    transformers_frontend,
    waveform_frontend,
    whole,
)
from asvnb.train.loop import (
    TrainConfig,
    Trainer,
    TrainResult,
    load_best,
    mean_loss_eval,
    model_config,
    publish_trained,
)

__all__ = [
    "DetectorCard",
    "DetectorCardError",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "crop_or_pad",
    "describe_detector",
    "dev_threshold",
    "image_frontend",
    "load_best",
    "mean_loss_eval",
    "model_config",
    "publish_trained",
    "read_card",
    "read_detector_index",
    "register_detector",
    "segments",
    "transformers_frontend",
    "waveform_frontend",
    "whole",
]
