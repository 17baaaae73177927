"""Temporary: the Trainer protocol moved to ``qspec.apply.ports``; removed once nothing imports this."""

from __future__ import annotations

from qspec.apply.ports import Trainer, TrainRequest

__all__ = ["TrainRequest", "Trainer"]
