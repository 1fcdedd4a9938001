"""Shared by the task tests: the sync tests' sandbox, and a database filled from it."""

from __future__ import annotations

from tests.sync.conftest import pull_everything, run, sandbox

__all__ = ["pull_everything", "run", "sandbox"]
