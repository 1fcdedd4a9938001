"""What a running sandbox holds besides its data: keys, knobs and the realism machinery."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from partnersync.sandbox.data import Dataset
from partnersync.sandbox.knobs import Counters, FaultDice, Knobs, PageHooks, RateLimiter
from partnersync.sandbox.webhooks import Webhooks


class QueryCache:
    """Filtered and sorted listings keyed by query and dataset version.

    Paging through a listing repeats the same query page after page; caching its rows makes each
    page cost only its slice, while any change to the dataset (new version) recomputes it.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, list[Any]] = OrderedDict()

    def rows(self, key: Hashable, version: int, compute: Callable[[], list[Any]]) -> list[Any]:
        full_key = (key, version)
        rows = self._entries.get(full_key)
        if rows is None:
            rows = self._entries[full_key] = compute()
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(full_key)
        return rows


@dataclass
class SandboxState:
    dataset: Dataset
    knobs: Knobs
    northpass_keys: tuple[str, ...]
    impartner_keys: tuple[str, ...]
    tenant_id: int
    limiter: RateLimiter = field(default_factory=RateLimiter)
    counters: Counters = field(default_factory=Counters)
    hooks: PageHooks = field(default_factory=PageHooks)
    cache: QueryCache = field(default_factory=QueryCache)

    def __post_init__(self) -> None:
        self.dice = FaultDice(self.knobs.fault_seed)
        self.webhooks = Webhooks(self.dataset, lambda: self.knobs)

    def set_knobs(self, **changes: Any) -> Knobs:
        """Applies knob changes; fault dice and page-mutation counters start afresh."""
        self.knobs = self.knobs.updated(**changes)
        self.dice.reseed(self.knobs.fault_seed)
        self.hooks.reset()
        if "late_changes" in changes:  # they happen now, and show later
            self.hooks.schedule(self.knobs.late_changes, self.dataset.now())
        return self.knobs
