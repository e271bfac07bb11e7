"""The synthetic latent-matching task (``task``), its report (``report``) and the dimension
study (``study``)."""

from .task import TASK, LatentConfig, LatentTask

__all__ = ["TASK", "LatentConfig", "LatentTask"]
