"""Encoders and decoders."""

from .mlp import MLPEncoder

__all__ = ["MLPEncoder"]
