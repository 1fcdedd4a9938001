"""Failure alerts to a webhook: one message when a task starts failing, one when it recovers.

Every run sends them, whoever started it (schedule, CLI or API). The transition comes from
the task row as the run recorded it (`consecutive_failures`
before the run, and the run's status), not from a process's memory, so replicas and
restarts neither repeat nor lose an alert. A webhook that fails is logged and never
fails the run.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
import structlog
from pydantic import SecretStr

from partnersync.tasks.outcome import RunOutcome
from partnersync.types import OutcomeStatus

Transition = Literal["failing", "recovered"]

MAX_ERROR_CHARS = 1000

log = structlog.get_logger(__name__)


def transition(previous_failures: int, status: OutcomeStatus) -> Transition | None:
    """`failing` on the first failure after a success, `recovered` on the success after."""
    if status == "failed" and previous_failures == 0:
        return "failing"
    if status == "success" and previous_failures > 0:
        return "recovered"
    return None


def payload(outcome: RunOutcome, kind: Transition) -> dict[str, Any]:
    error = outcome.error[:MAX_ERROR_CHARS] if outcome.error and kind == "failing" else None
    return {
        "task": outcome.task,
        "status": kind,
        "error": error,
        "at": outcome.completed_at.isoformat(),
    }


def notify(url: SecretStr | None, outcome: RunOutcome, timeout: float = 10.0) -> Transition | None:
    """POST the alert for `outcome` if it is a transition; return the transition sent."""
    kind = transition(outcome.previous_failures, outcome.status)
    if kind is None or url is None:
        return None
    request = httpx.Request(
        "POST",
        url.get_secret_value(),
        json=payload(outcome, kind),
        extensions={"timeout": httpx.Timeout(timeout).as_dict()},
    )
    try:  # the URL may hold a token: sent through the bare transport, as `httpx.Client` logs
        with httpx.HTTPTransport() as transport:  # every URL it requests; and never logged here
            response = transport.handle_request(request)
            response.read()
    except httpx.HTTPError as exc:
        log.warning("alert webhook unreachable", task=outcome.task, error=type(exc).__name__)
        return None
    if not response.is_success:
        log.warning("alert webhook refused", task=outcome.task, code=response.status_code)
        return None
    log.info("alert sent", task=outcome.task, status=kind)
    return kind
