"""The dashboard in Debian's Chromium: sign in, Run now, watch the progress and the new history row.

The page is served by a real uvicorn server on loopback, over a real MariaDB database; the
task is a slow coroutine of our own that reports progress for a few seconds. The test saves
a screenshot to test-artifacts/dashboard.png.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import Engine, insert

from partnersync.budget import ledger
from partnersync.budget.rule import BudgetRule
from partnersync.db.schema import lms_groups, partners
from partnersync.db.types import utcnow
from partnersync.sync.context import SyncContext
from partnersync.tasks import access_audit
from partnersync.web.app import create_app
from tests.conftest import empty_database

from .conftest import AUTH, TOKEN, breaks, web_settings

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def steady(base: int, api: str = "northpass") -> Any:
    """A quick task whose counts and duration vary a little from run to run."""
    calls = itertools.count()

    async def run(context: SyncContext) -> None:
        n = next(calls)
        stream = context.report.stream("records")
        stream.processed = base + 37 * (n % 4)
        stream.created, stream.updated = n % 3, 5 + 2 * n
        context.report.api_requests[api] = {
            "requests": base // 20 + n,
            "rate_limited": n % 2,
            "retries": n % 2,
            "failures": 0,
        }
        await asyncio.sleep(0.05 * (1 + n % 3))

    return run


async def slow(context: SyncContext) -> None:
    """About three seconds of visible progress."""
    stream = context.report.stream("people")
    for step in range(1, 31):
        stream.processed = step * 40
        stream.updated = step * 3
        context.progress("people", step * 40, 1200)
        context.checkpoint()
        await asyncio.sleep(0.1)
    stream.created = 12
    context.report.api_requests["northpass"] = {
        "requests": 13,
        "rate_limited": 0,
        "retries": 0,
        "failures": 0,
    }


FUNCTIONS = {
    "impartner_sync": steady(640, "impartner"),
    "sync_courses": steady(120),
    "sync_npcu": steady(118),
    "sync_users": slow,
    "sync_groups": breaks,
    "sync_enrollments": steady(2300),
}


@pytest.fixture
def served(mariadb_engine: Engine) -> Iterator[str]:
    """The app on a real uvicorn server on 127.0.0.1; yields its base URL."""
    empty_database(mariadb_engine)
    app = create_app(mariadb_engine, web_settings(), functions=FUNCTIONS)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=20)
    sock.close()


def seed(base: str, engine: Engine) -> None:
    """Some history (a failure among it), partners and groups, so every panel has content."""
    with httpx.Client(base_url=base, headers=AUTH) as client:
        for task in ("impartner_sync", "sync_courses", "sync_npcu", "sync_enrollments") * 4 + (
            "sync_groups",
        ):
            run_id = client.post(f"/api/tasks/{task}/run").json()["run_id"]
            while client.get(f"/api/sync-logs/{run_id}").json()["status"] == "running":
                time.sleep(0.02)
        client.patch("/api/tasks/cleanup", json={"enabled": False})
    with engine.begin() as connection:
        common: dict[str, Any] = {
            "group_id": "g1",
            "group_name": "ptr_Acme Consulting",
            "partner_id": 1,
            "source": "contact",
            "decided_by": "partnersync",
            "outcome": "done",
        }
        added = access_audit.Write(
            action="add",
            user_id="u-new",
            email="u-new@acme.example",
            cause="contact",
            reason="active contact 20001 of Acme Consulting",
            answer="added, and listed by Northpass when read back",
            **common,
        )
        removed = access_audit.Write(
            action="remove",
            user_id="u-gone",
            email="u-gone@acme.example",
            cause="contact_inactive",
            reason="contact 20002 of Acme Consulting inactive since 2026-12-01 09:00 UTC",
            answer="removed (HTTP 204)",
            **common,
        )  # membership writes of the last run (the failed sync_groups)
        access_audit.record(connection, [added, removed], at=utcnow(), sync_log_id=run_id)
        connection.execute(
            insert(partners),
            [
                {"id": 1, "impartner_id": 501, "account_name": "Acme Consulting"},
                {"id": 2, "impartner_id": 502, "account_name": "Globex Systems"},
            ],
        )
        connection.execute(
            insert(lms_groups),
            [
                {
                    "id": "g1",
                    "name": "ptr_Acme Consulting",
                    "partner_id": 1,
                    "partner_link": "auto",
                },
                {"id": "g2", "name": "Globex (EMEA)", "partner_id": 2, "partner_link": "manual"},
                {"id": "g3", "name": "Webinar attendees", "partner_id": None, "partner_link": None},
                *(
                    {"id": f"g{n}", "name": f"Region {n}", "partner_id": None, "partner_link": None}
                    for n in range(4, 44)
                ),
            ],
        )
        for replica in ("replica-1", "replica-2"):  # two processes sharing a Northpass key
            ledger.heartbeat(
                connection,
                key_id="northpass:5eed5eed5eed5eed",
                api="northpass",
                consumer=replica,
                rule=BudgetRule(start=8.0, ceiling=10.0),
                beat=ledger.Beat(requests=50, rate_limited=1, used=4.0),
                ttl=timedelta(minutes=10),
            )


def overlapping(page: Any, selector: str) -> list[tuple[int, int]]:
    """Pairs of elements matching `selector` whose boxes intersect."""
    boxes = [box for box in (b.bounding_box() for b in page.locator(selector).all()) if box]
    assert len(boxes) >= 2, "nothing to compare"
    pairs = []
    for i, a in enumerate(boxes):
        for j, b in enumerate(boxes[i + 1 :], i + 1):
            apart = (
                a["x"] + a["width"] <= b["x"] + 0.5
                or b["x"] + b["width"] <= a["x"] + 0.5
                or a["y"] + a["height"] <= b["y"] + 0.5
                or b["y"] + b["height"] <= a["y"] + 0.5
            )
            if not apart:
                pairs.append((i, j))
    return pairs


def test_run_now_shows_progress_and_the_new_history_row(
    served: str, mariadb_engine: Engine
) -> None:
    if not CHROMIUM.exists():
        pytest.fail("needs Debian's chromium at /usr/bin/chromium (`apt-get install chromium`)")
    seed(served, mariadb_engine)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            blocked: list[str] = []  # the page must work under its own Content-Security-Policy
            page.on(
                "console",
                lambda message: (
                    blocked.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            page.goto(served)
            page.fill("#token", TOKEN)
            page.click("#login-form button[type=submit]")
            card = page.locator('article.task[data-task="sync_users"]')
            expect(card).to_be_visible()
            assert TOKEN not in page.url

            card.locator('button[data-action="run"]').click()
            expect(card.locator(".progress")).to_be_visible(timeout=5000)
            expect(card.locator(".progress-label")).to_contain_text("people", timeout=5000)
            card.screenshot(path=str(ARTIFACTS / "dashboard-running-card.png"))
            latest = httpx.get(
                f"{served}/api/sync-logs", params={"task": "sync_users", "limit": 1}, headers=AUTH
            ).json()  # the run the click started (it may already have finished)
            run_id = latest[0]["id"]
            row = page.locator(f'#history tr.run.success[data-run="{run_id}"]')
            expect(row).to_be_visible(timeout=15000)
            expect(row).to_contain_text("sync_users")
            expect(card.locator(".progress")).to_have_count(0, timeout=5000)
            expect(card).to_have_class("card task s-success")

            failed = page.locator("#history tr.run.failed").first
            failed.click()
            expect(page.locator("#history pre.error")).to_contain_text("GET /v2/people?page=3")
            writes = page.locator("#history tr.detail [data-access]")
            expect(writes).to_have_count(2)
            expect(writes.first).to_contain_text("removed u-gone@acme.example from ptr_Acme")
            expect(page.locator("#access tbody tr")).to_have_count(2)
            expect(page.locator("#access tbody tr").first).to_contain_text("contact_inactive")
            for width in (1440, 1920):  # the run detail's blocks sit side by side, never overlap
                page.set_viewport_size({"width": width, "height": 900})
                assert not overlapping(page, "#history tr.detail .detail-grid > div"), width
            page.set_viewport_size({"width": 1440, "height": 900})

            links = page.locator("#links tbody tr")
            expect(links).to_have_count(25)  # 43 groups: paged, not one endless table
            expect(page.locator("#links-more")).to_contain_text("page 1 of 2")
            page.locator("#links-more button", has_text="Next").click()
            expect(links).to_have_count(18)
            assert page.locator('link[rel="icon"]').count() == 1
            shared = page.locator('#api-usage .api-key[data-key="northpass:5eed5eed5eed5eed"]')
            expect(shared).to_contain_text("2 processes sending 8.0/s")
            expect(shared).to_contain_text("2 429s of 100")
            expect(page.locator("#summary")).to_contain_text("Webhooksoff")  # no secret set
            page.evaluate("window.scrollTo(0, 0)")  # the sticky header back at the top
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            page.screenshot(path=str(ARTIFACTS / "dashboard-narrow.png"))
            assert not blocked, blocked
        finally:
            browser.close()
