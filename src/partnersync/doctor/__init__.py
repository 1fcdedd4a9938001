"""`partnersync doctor`: the checklist an operator runs before the first real sync and
whenever something looks wrong — settings, database, and the vendors' behaviour the sync
relies on, probed read-only with a bounded number of requests (docs/design.md §6)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Awaitable, Mapping

from partnersync import logs
from partnersync.clients.retry import RetryPolicy
from partnersync.config import ConfigError, impartner_settings, northpass_settings
from partnersync.doctor import impartner, northpass
from partnersync.doctor.local import configuration, database
from partnersync.doctor.report import Checklist

DATABASE_CHECKS = ("database.reachable", "database.privileges", "database.schema")
PATIENCE = RetryPolicy(max_attempts=3, wait_max_s=5.0)
"""Retries while probing: enough to ride out one 429 or 503, short enough to report a dead host."""


def diagnose(environ: Mapping[str, str]) -> Checklist:
    settings, checks = configuration(environ)
    if settings is None:
        names = [*DATABASE_CHECKS, *northpass.CHECKS, *impartner.CHECKS]
        checks.skip_rest(names, "the settings are invalid")
        return checks
    logs.redact(settings.secrets())
    checks.extend(database(settings))
    now = dt.datetime.now(dt.UTC)
    probes: list[Awaitable[Checklist]] = []
    try:
        patient = dataclasses.replace(northpass_settings(settings), retry=PATIENCE)
        probes.append(northpass.probe(patient, now))
    except ConfigError:
        checks.skip_rest(list(northpass.CHECKS), "NORTHPASS_API_KEY is not set")
    try:
        patient_impartner = dataclasses.replace(impartner_settings(settings), retry=PATIENCE)
        margin = settings.impartner_filter_margin_hours
        probes.append(impartner.probe(patient_impartner, margin, now))
    except ConfigError:
        checks.skip_rest(list(impartner.CHECKS), "IMPARTNER_API_KEY is not set")
    for vendor in asyncio.run(_together(probes)):
        checks.extend(vendor)
    return checks


async def _together(probes: list[Awaitable[Checklist]]) -> list[Checklist]:
    return list(await asyncio.gather(*probes))
