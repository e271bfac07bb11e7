"""The image-space WAE task (``task``), its report (``report``) and figures (``figures``)."""

from .task import PROTOCOLS, TASK, ImageConfig, ImageTask

__all__ = ["PROTOCOLS", "TASK", "ImageConfig", "ImageTask"]
