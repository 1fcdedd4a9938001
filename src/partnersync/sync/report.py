"""What a run did, stream by stream: the counts that end up in `sync_logs`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from partnersync.db.bulk import WriteCounts
from partnersync.types import Skipped

MAX_EXAMPLES = 20


CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F)}
"""Control characters (escape sequences could retitle or recolour a terminal), but tab and
newline, shown as `\\xNN`."""


def printable(text: str) -> str:
    """`text` safe to store and show: what UTF-8 cannot carry (a bad record's lone surrogate)
    and control characters are escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").translate(CONTROL)


@dataclass
class StreamReport:
    """Counts for one stream; `failed` are records skipped as malformed or unusable."""

    processed: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def wrote(self, counts: WriteCounts) -> None:
        self.processed += counts.processed
        self.created += counts.created
        self.updated += counts.updated
        self.unchanged += counts.unchanged
        for key, reason in counts.rejected:
            self.fail("/".join(str(part) for part in key), reason)

    def skipped(self, skips: Iterable[Skipped]) -> None:
        for skip in skips:
            self.fail(skip.id, skip.reason)

    def fail(self, record_id: str | None, reason: str) -> None:
        self.failed += 1
        self.reasons[reason.split(":")[0]] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(printable(f"{record_id or '<no id>'}: {reason}"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "processed": self.processed,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": self.failed,
            "failure_reasons": dict(self.reasons),
            "failure_examples": self.examples,
            "notes": self.notes,
        }


@dataclass
class RunReport:
    streams: dict[str, StreamReport] = field(default_factory=dict)
    api_requests: dict[str, dict[str, int]] = field(default_factory=dict)

    def stream(self, name: str) -> StreamReport:
        return self.streams.setdefault(name, StreamReport())

    def total(self, counter: str) -> int:
        return sum(getattr(stream, counter) for stream in self.streams.values())

    @property
    def requests(self) -> int:
        return sum(stats.get("requests", 0) for stats in self.api_requests.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "streams": {name: stream.as_dict() for name, stream in self.streams.items()},
            "api": self.api_requests,
        }
