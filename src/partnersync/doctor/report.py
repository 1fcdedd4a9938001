"""The checklist `partnersync doctor` prints: one line per check, and what to do where one fails."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["ok", "warn", "fail", "skip"]
"""`ok` holds; `warn` does not hold but the sync copes (the detail says how); `fail` needs the
operator (the fix says what to do); `skip` could not be checked because an earlier check failed."""

MARKS: dict[Status, str] = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}


@dataclass(frozen=True)
class Check:
    """One line of the checklist; `name` is stable (`northpass.updated_filter`) for monitoring."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass
class Checklist:
    """Every check of one doctor run, in the order they ran, and the vendor requests they cost."""

    checks: list[Check] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, status: Status, detail: str, fix: str | None = None) -> Check:
        check = Check(name, status, detail, fix)
        self.checks.append(check)
        return check

    def extend(self, other: Checklist) -> None:
        self.checks.extend(other.checks)
        self.requests.update(other.requests)

    def skip_rest(self, names: list[str], reason: str) -> None:
        for name in names:
            self.add(name, "skip", f"not checked: {reason}")

    def status(self, name: str) -> Status | None:
        return next((c.status for c in self.checks if c.name == name), None)

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "failed": [c.name for c in self.checks if c.status == "fail"],
            "warnings": [c.name for c in self.checks if c.status == "warn"],
            "requests": self.requests,
            "checks": [asdict(c) for c in self.checks],
        }
