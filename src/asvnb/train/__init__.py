"""Training: the shared trainer (loop), the studies' losses, adversarial example generation."""

from asvnb.train.loop import (TrainConfig, Trainer, TrainResult, load_best, mean_loss_eval, model_config,
                              publish_trained)

__all__ = ["TrainConfig", "Trainer", "TrainResult", "load_best", "mean_loss_eval", "model_config", "publish_trained"]
