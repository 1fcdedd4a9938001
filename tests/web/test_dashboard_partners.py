"""The Partners page in Debian's Chromium: table, search, sort, detail, trend and CSV.

The rows are written straight into a real MariaDB database; the numbers the page must show
are worked out by hand below from the certification rule (docs/design.md §3). The test saves
screenshots to test-artifacts/partners.png (the panel) and partners-detail*.png.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, expect, sync_playwright
from sqlalchemy import Engine, insert

from partnersync.db.schema import (
    contacts,
    lms_courses,
    lms_enrollments,
    lms_group_members,
    lms_groups,
    lms_users,
    partner_push_state,
    partner_snapshots,
    partners,
)
from partnersync.db.types import utcnow

from .conftest import TOKEN
from .test_dashboard import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, overlapping, served

__all__ = ["served"]

XSS = "<img src=x onerror=alert(1)>"


def seed(engine: Engine) -> None:
    """Four named partners and some fillers; Acme's numbers, by the rule:

    partner users: ann (groups g1 and g2, and a contact: "both"), bob (g1), cy (a contact);
    not dan, whose g2 membership is pending. Completed enrollments:
      ann  Sales Foundations     2 NPCU, expires in 200 days   counted
      ann  Technical Specialist  5 NPCU, expires in 30 days    counted, expiring within 90 days
      bob  Sales Foundations     2 NPCU, never expires         counted
      bob  Technical Specialist  5 NPCU, expired 10 days ago   not counted: expired
      cy   Intro webinar         0 NPCU                        not counted: course worth no NPCU
    → 3 certifications, 9 NPCU, 2 of 3 users certified, 1 expiring. Impartner was read back
    holding 2 certifications: drift. Globex has 4 certifications (15 NPCU), the markup-named
    partner 1, Initech (inactive) and the fillers none.
    """
    now = utcnow()
    today = now.date()
    with engine.begin() as c:
        named = [
            (1, 501, "Acme Consulting", "Gold", True),
            (2, 502, "Globex Systems", "Silver", True),
            (3, 503, XSS, "Bronze", True),
            (4, 504, "Initech", "Silver", False),
        ]
        fillers = [(10 + n, 600 + n, f"Reseller {n:02d}", "Registered", True) for n in range(1, 27)]
        c.execute(  # every row names every column: a multi-row insert takes them from the first
            insert(partners),
            [
                {"id": i, "impartner_id": x, "account_name": a, "partner_tier": t, "is_active": on}
                for i, x, a, t, on in named + fillers
            ],
        )
        c.execute(
            insert(lms_groups),
            [
                {
                    "id": "g1",
                    "name": "ptr_Acme Consulting",
                    "partner_id": 1,
                    "partner_link": "auto",
                },
                {"id": "g2", "name": "Acme EMEA", "partner_id": 1, "partner_link": "manual"},
                {"id": "g3", "name": "ptr_Globex", "partner_id": 2, "partner_link": "auto"},
                {"id": "g5", "name": "ptr_markup", "partner_id": 3, "partner_link": "auto"},
                {"id": "g9", "name": "Webinar attendees", "partner_id": None, "partner_link": None},
            ],
        )
        people = [
            ("u1", "ann@acme.example", "Ann", "Archer"),
            ("u2", "bob@acme.example", "Bob", "Baker"),
            ("u3", "cy@acme.example", "Cy", "Cole"),
            ("u4", "dee@globex.example", "Dee", "Dunn"),
            ("u5", "eve@globex.example", "Eve", "East"),
            ("u6", "fay@markup.example", "Fay", "Fox"),
            ("u7", "dan@acme.example", "Dan", "Drew"),
        ]
        c.execute(
            insert(lms_users),
            [
                {
                    "id": i,
                    "email": e,
                    "email_domain": e.split("@")[1],
                    "first_name": f,
                    "last_name": la,
                }
                for i, e, f, la in people
            ],
        )
        c.execute(
            insert(lms_group_members),
            [
                {"group_id": "g1", "user_id": "u1", "status": "confirmed"},
                {"group_id": "g1", "user_id": "u2", "status": "confirmed"},
                {"group_id": "g2", "user_id": "u1", "status": "confirmed"},
                {"group_id": "g2", "user_id": "u7", "status": "pending"},
                {"group_id": "g3", "user_id": "u4", "status": "confirmed"},
                {"group_id": "g3", "user_id": "u5", "status": "confirmed"},
                {"group_id": "g5", "user_id": "u6", "status": "confirmed"},
            ],
        )
        c.execute(
            insert(contacts),
            [
                {
                    "impartner_id": 9001,
                    "email": "ann@acme.example",
                    "partner_id": 1,
                    "lms_user_id": "u1",
                },
                {
                    "impartner_id": 9003,
                    "email": "cy@acme.example",
                    "partner_id": 1,
                    "lms_user_id": "u3",
                },
            ],
        )
        c.execute(
            insert(lms_courses),
            [
                {"id": "c1", "name": "Sales Foundations", "npcu_value": 2},
                {"id": "c2", "name": "Technical Specialist", "npcu_value": 5},
                {"id": "c3", "name": "Intro webinar", "npcu_value": 0},
                {"id": "c4", "name": "Legacy Architect", "npcu_value": 3},
            ],
        )
        done = now - timedelta(days=60)
        enrollments = [
            ("u1", "c1", now + timedelta(days=200)),
            ("u1", "c2", now + timedelta(days=30)),
            ("u2", "c1", None),
            ("u2", "c2", now - timedelta(days=10)),
            ("u3", "c3", None),
            ("u4", "c1", None),
            ("u4", "c2", None),
            ("u4", "c4", now + timedelta(days=400)),
            ("u5", "c2", None),
            ("u6", "c1", None),
        ]
        c.execute(
            insert(lms_enrollments),
            [
                {
                    "id": f"e{n}",
                    "user_id": user,
                    "course_id": course,
                    "status": "completed",
                    "completed_at": done,
                    "expires_at": expires,
                }
                for n, (user, course, expires) in enumerate(enrollments, 1)
            ]
            + [
                {
                    "id": "e99",
                    "user_id": "u3",
                    "course_id": "c4",
                    "status": "in_progress",
                    "completed_at": None,
                    "expires_at": None,
                }
            ],
        )
        c.execute(
            insert(partner_push_state),
            [
                {
                    "partner_id": 1,
                    "pushed_values": {"Certification_Count__cf": 3, "Total_NPCU__cf": 9},
                    "pushed_at": now - timedelta(hours=2),
                    "crm_values": {"Certification_Count__cf": 2, "Total_NPCU__cf": 9},
                    "crm_read_at": now - timedelta(hours=1),
                },
                {
                    "partner_id": 2,
                    "pushed_values": {"Certification_Count__cf": 4, "Total_NPCU__cf": 15},
                    "pushed_at": now - timedelta(hours=2),
                    "crm_values": {"Certification_Count__cf": 4, "Total_NPCU__cf": 15},
                    "crm_read_at": now - timedelta(hours=1),
                },
            ],
        )
        c.execute(
            insert(partner_snapshots),
            [
                {
                    "partner_id": 1,
                    "day": today - timedelta(days=ago),
                    "certification_count": count,
                    "total_npcu": npcu,
                    "certified_users": 1 + (count > 2),
                    "partner_users": 3,
                    "expiring_90d": 1,
                    "recorded_at": now - timedelta(days=ago),
                }
                for ago, count, npcu in ((20, 1, 2), (10, 2, 7), (0, 3, 9))
            ],
        )


def cells(page: Page, partner_id: int) -> list[str]:
    return [
        text.strip()
        for text in page.locator(f'#partners tr[data-partner="{partner_id}"] td').all_inner_texts()
    ]


def no_overflow(page: Page) -> None:
    widths: dict[str, Any] = page.evaluate(
        """() => ({
            page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
            tables: [...document.querySelectorAll('#partners-panel .table-wrap')]
                .map((w) => w.scrollWidth - w.clientWidth),
        })"""
    )
    assert widths["page"] <= 0, widths
    assert all(extra <= 0 for extra in widths["tables"]), widths


def test_partners_table_detail_trend_and_csv(served: str, mariadb_engine: Engine) -> None:
    if not CHROMIUM.exists():
        pytest.fail("needs Debian's chromium at /usr/bin/chromium (`apt-get install chromium`)")
    seed(mariadb_engine)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
            blocked: list[str] = []
            page.on(
                "console",
                lambda message: (
                    blocked.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            dialogs: list[str] = []  # an alert() run from a vendor's text would land here

            def dismissed(dialog: Dialog) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", dismissed)
            page.goto(served)
            page.fill("#token", TOKEN)
            page.click("#login-form button[type=submit]")

            rows = page.locator("#partners tbody tr")
            expect(rows).to_have_count(25)  # 30 partners, paged like the links
            expect(page.locator("#partners-more")).to_contain_text("page 1 of 2 (30 partners)")
            name, tier, certs, npcu, certified, users, soon, crm = cells(page, 1)
            assert name.startswith("Acme Consulting") and "Impartner 501" in name
            assert (tier, certs, npcu, certified, users, soon) == ("Gold", "3", "9", "2", "3", "1")
            assert crm == "⚠ CRM 2 ≠ 3"
            assert cells(page, 2)[7] == "✓ in sync"
            assert "inactive" in cells(page, 4)[0]
            # the markup in a vendor's name is text: no element made of it, nothing run
            markup = page.locator('#partners tr[data-partner="3"] button.partner-name')
            expect(markup).to_have_text(XSS)
            assert page.locator("#partners-panel img").count() == 0
            tiers = page.locator("#partners-tier option").all_inner_texts()
            assert tiers == ["All tiers", "Bronze", "Gold", "Registered", "Silver"]

            # sorting: by name first ("<" sorts before letters), then by certifications
            name_sort = page.locator('#partners th[data-sort="name"]')
            expect(name_sort).to_have_attribute("aria-sort", "ascending")
            expect(rows.first).to_have_attribute("data-partner", "3")
            by_certs = page.locator('#partners th[data-sort="certification_count"]')
            by_certs.locator("button").click()
            expect(by_certs).to_have_attribute("aria-sort", "descending")
            expect(name_sort).not_to_have_attribute("aria-sort", "ascending")
            expect(rows.first).to_have_attribute("data-partner", "2")  # Globex, 4
            expect(rows.nth(1)).to_have_attribute("data-partner", "1")  # Acme, 3
            by_certs.locator("button").press("Enter")  # keyboard: toggles to ascending
            expect(by_certs).to_have_attribute("aria-sort", "ascending")
            expect(rows.first).to_have_attribute("data-partner", "4")  # a 0, lowest id first
            by_certs.locator("button").click()

            # filters: tier, active only, search
            page.select_option("#partners-tier", "Silver")
            expect(rows).to_have_count(2)
            page.check("#partners-active")
            expect(rows).to_have_count(1)
            expect(rows.first).to_have_attribute("data-partner", "2")
            page.uncheck("#partners-active")
            page.select_option("#partners-tier", "")
            expect(rows).to_have_count(25)
            page.fill("#partners-q", "acme")
            expect(rows).to_have_count(1)
            expect(rows.first).to_have_attribute("data-partner", "1")
            expect(page.locator("#partners-more")).to_have_text("")

            with page.expect_download() as listed:
                page.click("#partners-csv")
            download = listed.value
            assert download.suggested_filename == "partners.csv"
            lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
            assert lines[0].startswith("id,impartner_id,name,tier,is_active,certification_count")
            assert len(lines) == 2 and lines[1].startswith("1,501,Acme Consulting,Gold,true,3,9,")

            # the detail: numbers, groups, people with their reasons, the trend
            page.locator('#partners tr[data-partner="1"] button.partner-name').click()
            detail = page.locator("#partner-detail")
            expect(detail).to_be_visible()
            expect(page.locator("#partner-detail-title")).to_have_text("Acme Consulting")
            expect(page.locator("#partner-detail-title")).to_be_focused()
            expect(detail.locator(".partner-numbers")).to_contain_text("2 of 3 partner users")
            expect(detail.locator(".partner-numbers")).to_contain_text("⚠ CRM 2 ≠ 3")
            groups = detail.locator(".partner-groups li")
            expect(groups).to_have_count(2)
            expect(groups.first).to_contain_text("ptr_Acme Consulting")
            expect(groups.nth(1)).to_contain_text("Acme EMEA")
            expect(groups.nth(1)).to_contain_text("manual")

            people = detail.locator(".people-table tbody tr")
            expect(people).to_have_count(3)  # not Dan: his membership is pending
            ann = detail.locator('tr[data-user="u1"]')
            expect(ann).to_contain_text("Ann Archer")
            expect(ann).to_contain_text("ann@acme.example")
            expect(ann.locator("td").nth(2)).to_have_text("both")
            expect(ann.locator(".cert")).to_have_count(2)
            expect(ann.locator(".cert.not-counted")).to_have_count(0)
            bob = detail.locator('tr[data-user="u2"]')
            expect(bob.locator("td").nth(2)).to_have_text("group")
            lapsed = bob.locator('li[data-course="c2"]')
            expect(lapsed).to_contain_text("not counted: expired")
            expect(lapsed.locator(".expiry")).to_contain_text("expired")
            expect(bob.locator('li[data-course="c1"]')).to_contain_text("never expires")
            cy = detail.locator('tr[data-user="u3"]')
            expect(cy.locator("td").nth(2)).to_have_text("contact")
            expect(cy).to_contain_text("not counted: course worth no NPCU")

            trend = detail.locator("svg.trend")
            expect(trend).to_be_visible()
            expect(trend.locator("circle.pt")).to_have_count(3)  # one per snapshot
            path = trend.locator("path.certs").get_attribute("d") or ""
            assert path.count("M") == 1 and path.count("L") == 2, path
            heights = [
                float(trend.locator("circle.pt").nth(i).get_attribute("cy") or "nan")
                for i in range(3)
            ]
            assert heights[0] > heights[1] > heights[2], heights  # 1, 2, 3: it rises
            assert trend.locator("path.npcu").count() == 1

            for width in (1280, 1440, 1920):
                page.set_viewport_size({"width": width, "height": 900})
                assert not overlapping(page, "#partner-detail .detail-grid > div"), width
                assert not overlapping(page, "#partner-detail > *"), width
                no_overflow(page)
                if width == 1280:
                    detail.screenshot(path=str(ARTIFACTS / "partners-detail-1280.png"))
            page.set_viewport_size({"width": 1440, "height": 900})

            with page.expect_download() as listed:
                detail.locator('button[data-action="people-csv"]').click()
            download = listed.value
            assert download.suggested_filename == "partner-1-users.csv"
            text = Path(download.path()).read_text(encoding="utf-8")
            assert text.splitlines()[0].startswith(
                "lms_user_id,email,first_name,last_name,membership"
            )
            assert "expired" in text

            groups.nth(1).locator("button").click()  # a group opens in the links table
            expect(page.locator("#links-q")).to_have_value("g2")
            expect(page.locator("#links tbody tr")).to_have_count(1)
            expect(page.locator('#links tr[data-group="g2"]')).to_contain_text("Acme EMEA")

            detail.locator('button[data-action="people-csv"]').focus()
            detail.screenshot(path=str(ARTIFACTS / "partners-detail.png"))
            page.fill("#partners-q", "")
            expect(rows).to_have_count(25)
            page.evaluate("window.scrollTo(0, 0)")  # the sticky header must not cover the panel
            panel = page.locator("#partners-panel").bounding_box()
            assert panel is not None
            page.screenshot(path=str(ARTIFACTS / "partners.png"), full_page=True, clip=panel)

            page.locator('#partners tr[data-partner="3"] button.partner-name').click()
            expect(page.locator("#partner-detail-title")).to_have_text(XSS)
            page.locator("#partner-detail button", has_text="Close").click()
            expect(detail).to_be_hidden()
            assert page.locator("img").count() == 0
            assert not dialogs, dialogs
            assert not blocked, blocked
        finally:
            browser.close()
