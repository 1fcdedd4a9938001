"""The few small types every layer shares."""

from __future__ import annotations

from typing import Literal

Mode = Literal["incremental", "full"]
"""Incremental reads what changed since the watermark; full reads everything and sweeps."""

Trigger = Literal["schedule", "cli", "api"]
"""Who asked for a run; every trigger goes through the same runner."""
