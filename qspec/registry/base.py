"""Temporary: the Registry protocol moved to ``qspec.apply.ports``; removed once nothing imports this."""

from __future__ import annotations

from qspec.apply.ports import Registry

__all__ = ["Registry"]
