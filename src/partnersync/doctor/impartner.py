"""Read-only probes of the Impartner behaviour the sync relies on (about 11 requests).

The sync reads by key (`orderby=Id`, `Id > last`, `take`), names its `fields`, trusts
`data.count` to tell a complete read, asks `_deleted` for deletions and filters on
`Updated >= '…Z'`; whether the `Z` is honoured decides how large IMPARTNER_FILTER_MARGIN_HOURS
must be (docs/vendor-facts.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

from partnersync.clients.errors import ApiError
from partnersync.clients.impartner import BASE_PATH, ImpartnerClient, format_time, list_data
from partnersync.clients.settings import ImpartnerSettings
from partnersync.clients.transport import ApiRequest
from partnersync.doctor.report import Checklist, Status
from partnersync.doctor.vendor import Vendor, first_answer, probe_all

CHECKS = (
    "impartner.key",
    "impartner.tenant",
    "impartner.fields",
    "impartner.orderby",
    "impartner.take_skip",
    "impartner.count",
    "impartner.deleted",
    "impartner.time_literals",
)
ACCOUNTS = f"{BASE_PATH}/Account"
SAMPLE = 5


@dataclasses.dataclass(frozen=True)
class Answer:
    count: int
    rows: list[dict[str, Any]]

    @property
    def ids(self) -> list[Any]:
        return [row.get("id") for row in self.rows]


async def accounts(client: ImpartnerClient, **params: str) -> Answer:
    """One Account list request (`success:false` raises ApiError, as in the sync)."""
    request = ApiRequest("GET", ACCOUNTS, tuple(params.items()))
    count, rows = list_data(request, await client.get(ACCOUNTS, list(params.items())))
    return Answer(count, [row for row in rows if isinstance(row, dict)])


IMPARTNER = Vendor(
    "Impartner",
    CHECKS,
    "IMPARTNER",
    frozenset({200, 302, 401, 403}),  # 200: `success: false`; 302: a login page
    "check IMPARTNER_API_KEY and IMPARTNER_TENANT_ID",
)


async def probe(settings: ImpartnerSettings, margin_hours: int, now: dt.datetime) -> Checklist:
    client = ImpartnerClient(settings)
    return await probe_all(
        IMPARTNER, client, lambda checks: _probe(client, checks, margin_hours, now)
    )


async def _probe(
    client: ImpartnerClient, checks: Checklist, margin_hours: int, now: dt.datetime
) -> None:
    first = accounts(client, fields="Id,Updated", orderby="Id", skip="0", take=str(SAMPLE))
    sample = await first_answer(IMPARTNER, client, client.settings.base_url, checks, first)
    if sample is None:
        return
    await _tenant(client, checks)
    await _fields(client, checks)
    _orderby(checks, sample)
    await _take_skip(client, checks, sample)
    await _deleted(client, checks, now)
    await _time_literals(client, checks, sample, margin_hours)


async def _refused(client: ImpartnerClient, tenant_id: str | None) -> bool:
    """Whether a request with another tenant header (None: none) is refused."""
    settings = dataclasses.replace(client.settings, tenant_id=tenant_id)
    async with ImpartnerClient(settings, stats=client.stats) as other:
        try:
            await accounts(other, fields="Id", orderby="Id", take="1")
        except ApiError:
            return True
    return False


async def _tenant(client: ImpartnerClient, checks: Checklist) -> None:
    tenant = client.settings.tenant_id or "1"
    wrong = str(int(tenant) + 1) if tenant.isdigit() else "1"
    without = await _refused(client, None)
    if not await _refused(client, wrong):
        checks.add(
            "impartner.tenant",
            "fail",
            f"X-PRM-TenantId is ignored (tenant {wrong} is answered too): the key alone picks "
            "the tenant",
            "make sure IMPARTNER_API_KEY is the key of the tenant you mean",
        )
    elif without:
        checks.add("impartner.tenant", "ok", "X-PRM-TenantId is required and checked")
    else:
        checks.add(
            "impartner.tenant",
            "warn",
            "X-PRM-TenantId is not required (a request without it is answered) but it is "
            f"checked (tenant {wrong} is refused); the sync always sends IMPARTNER_TENANT_ID",
        )


async def _fields(client: ImpartnerClient, checks: Checklist) -> None:
    answer = await accounts(client, fields="Id,Name", orderby="Id", take="1")
    if not answer.rows:
        checks.add("impartner.fields", "ok", "not decisive: the tenant has no accounts")
        return
    keys = {key.lower() for key in answer.rows[0]}
    if keys == {"id", "name"}:
        checks.add("impartner.fields", "ok", "`fields` is honoured (Id,Name gave id and name)")
    elif {"id", "name"} <= keys:
        checks.add(
            "impartner.fields",
            "warn",
            f"`fields` is ignored ({len(keys)} fields came for Id,Name): pages are larger than "
            "needed, the sync still reads what it names",
        )
    else:
        checks.add(
            "impartner.fields",
            "fail",
            f"`fields=Id,Name` gave {sorted(keys)}: the sync would store empty values",
            "report it to Impartner; do not sync until it is resolved",
        )


def _orderby(checks: Checklist, sample: Answer) -> None:
    ids = sample.ids
    if len(ids) < 2:
        checks.add("impartner.orderby", "ok", "not decisive: fewer than two accounts")
    elif all(isinstance(i, int) for i in ids) and ids == sorted(set(ids)):
        checks.add("impartner.orderby", "ok", "`orderby=Id` returns ascending ids")
    else:
        checks.add(
            "impartner.orderby",
            "fail",
            f"`orderby=Id` returned ids {ids}, not ascending: reading by key (Id > last) "
            "could skip rows",
            "report it to Impartner; full runs will not sweep deletions on such reads",
        )


async def _take_skip(client: ImpartnerClient, checks: Checklist, sample: Answer) -> None:
    size = client.settings.page_size
    page = await accounts(client, fields="Id", orderby="Id", skip="0", take=str(size))
    shifted = await accounts(client, fields="Id", orderby="Id", skip="1", take="2")
    problems, fix = [], None
    if len(page.rows) < min(size, page.count):
        problems.append(f"take={size} gave {len(page.rows)} rows")
        fix = f"set IMPARTNER_PAGE_SIZE={len(page.rows)}"
    if len(shifted.rows) > 2:
        problems.append(f"take=2 gave {len(shifted.rows)} rows")
    if len(sample.ids) >= 3 and shifted.ids != sample.ids[1:3]:
        problems.append(f"skip=1 gave ids {shifted.ids}, not {sample.ids[1:3]}")
    if problems:
        checks.add("impartner.take_skip", "fail", "; ".join(problems), fix)
    else:
        checks.add("impartner.take_skip", "ok", f"`take` (up to {size}) and `skip` are honoured")
    counts = {sample.count, page.count, shifted.count}
    if len(counts) == 1 and page.count >= len(page.rows):
        checks.add("impartner.count", "ok", f"`data.count` is the total ({page.count} accounts)")
    else:
        checks.add(
            "impartner.count",
            "fail",
            f"`data.count` varies with take/skip ({sorted(counts)}): full runs cannot tell a "
            "complete read and never sweep deletions",
            "report it to Impartner",
        )


async def _deleted(client: ImpartnerClient, checks: Checklist, now: dt.datetime) -> None:
    try:
        ids = await client.deleted_ids("Account", now - dt.timedelta(days=1), now)
    except ApiError as exc:
        checks.add(
            "impartner.deleted",
            "fail",
            f"`Account/_deleted` answered HTTP {exc.status}: {exc.detail}; incremental "
            "impartner_sync runs fail at their deletion step",
            "report it to Impartner; meanwhile run `partnersync sync impartner_sync --full`",
        )
        return
    checks.add(
        "impartner.deleted", "ok", f"`_deleted` answers ({len(ids)} accounts deleted in 24 h)"
    )


def _updated(row: dict[str, Any]) -> dt.datetime | None:
    value = next((v for k, v in row.items() if k.lower() == "updated"), None)
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def _includes(client: ImpartnerClient, account_id: int, literal: str) -> bool:
    """Whether `Id = account_id and Updated >= 'literal'` finds the account: a count of 0 or 1."""
    answer = await accounts(
        client, fields="Id", filter=f"Id = {account_id} and Updated >= '{literal}'", take="1"
    )
    return answer.count > 0


async def _time_literals(
    client: ImpartnerClient, checks: Checklist, sample: Answer, margin_hours: int
) -> None:
    row = next((r for r in sample.rows if _updated(r) is not None), None)
    stamp = _updated(row) if row is not None else None
    if row is None or stamp is None or stamp.utcoffset() is None:
        checks.add(
            "impartner.time_literals",
            "warn",
            "not decisive: no account carries an `Updated` time with its zone; keep "
            f"IMPARTNER_FILTER_MARGIN_HOURS ({margin_hours}) as it is",
        )
        return
    offset = stamp.utcoffset() or dt.timedelta(0)
    at = stamp.astimezone(dt.UTC).replace(microsecond=0)
    account_id = int(row.get("id") or row.get("Id") or 0)
    as_utc = await _includes(client, account_id, format_time(at)) and not await _includes(
        client, account_id, format_time(at + dt.timedelta(seconds=1))
    )
    local = (at + offset).replace(tzinfo=None)
    zoneless_local = await _includes(client, account_id, local.isoformat()) and not await _includes(
        client, account_id, (local + dt.timedelta(seconds=1)).isoformat()
    )
    zoneless = "in the tenant's zone" if zoneless_local else "as UTC (or another zone)"
    hours = abs(offset.total_seconds()) / 3600
    if offset == dt.timedelta(0):
        checks.add(
            "impartner.time_literals",
            "ok",
            "the tenant shows times in UTC, so every reading of a literal agrees: "
            f"IMPARTNER_FILTER_MARGIN_HOURS can be 0 (it is {margin_hours})",
        )
    elif as_utc:
        checks.add(
            "impartner.time_literals",
            "ok",
            f"a `Z` literal is read as UTC (zone-less ones {zoneless}): "
            f"IMPARTNER_FILTER_MARGIN_HOURS can be 0 (it is {margin_hours}; each incremental "
            f"run re-reads {margin_hours} h of changes)",
        )
    else:
        # West of UTC the literal names a later instant and rows are skipped; east of it an
        # earlier one, and rows are only read twice. One hour more for daylight saving.
        needed = math.ceil(hours) + 1 if offset < dt.timedelta(0) else 0
        status: Status = "ok" if margin_hours >= needed else "fail"
        checks.add(
            "impartner.time_literals",
            status,
            f"a `Z` literal is not read as UTC but as tenant time (offset {offset_text(offset)}; "
            f"zone-less ones {zoneless}): incremental reads need a margin of at least "
            f"{needed} h, and IMPARTNER_FILTER_MARGIN_HOURS is {margin_hours}",
            None if status == "ok" else f"set IMPARTNER_FILTER_MARGIN_HOURS={needed} or more",
        )


def offset_text(offset: dt.timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
