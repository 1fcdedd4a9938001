"""`GET /api/access/audit` and a run's membership writes in `GET /api/sync-logs/{id}`."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from partnersync.db.schema import sync_logs
from partnersync.db.types import utcnow
from partnersync.tasks import access_audit
from tests.conftest import inserted_id


def write(action: str, user: str, cause: str, answer: str) -> access_audit.Write:
    return access_audit.Write(
        action="add" if action == "add" else "remove",
        group_id="g1",
        group_name="ptr_Acme",
        user_id=user,
        email=f"{user}@acme.io",
        partner_id=7,
        source="contact",
        decided_by="partnersync",
        cause=cause,
        reason=f"contact 2000001 ({user}@acme.io) of Acme (Impartner 100001)",
        outcome="done",
        answer=answer,
    )


def test_the_audit_lists_every_write_newest_first_and_filters(
    engine: Engine, client: TestClient
) -> None:
    with engine.begin() as c:
        run_id = inserted_id(
            c.execute(
                insert(sync_logs).values(
                    sync_type="group_members_sync",
                    status="success",
                    mode="incremental",
                    started_at=utcnow(),
                )
            )
        )
        access_audit.record(
            c,
            [write("add", "u1", "contact", "added, and listed by Northpass when read back")],
            at=utcnow(),
            sync_log_id=None,
        )
        access_audit.record(
            c,
            [
                write("remove", "u1", "contact_inactive", "removed (HTTP 204)"),
                write("remove", "u2", "partner_deleted", "not a member (HTTP 404)"),
            ],
            at=utcnow(),
            sync_log_id=run_id,
        )

    page = client.get("/api/access/audit").json()
    assert page["total"] == 3 and [i["user_id"] for i in page["items"]] == ["u2", "u1", "u1"]
    assert page["items"][0] | {"id": 0, "at": ""} == {
        "id": 0,
        "at": "",
        "run_id": run_id,
        "action": "remove",
        "group_id": "g1",
        "group_name": "ptr_Acme",
        "user_id": "u2",
        "email": "u2@acme.io",
        "partner_id": 7,
        "source": "contact",
        "decided_by": "partnersync",
        "cause": "partner_deleted",
        "reason": "contact 2000001 (u2@acme.io) of Acme (Impartner 100001)",
        "outcome": "done",
        "answer": "not a member (HTTP 404)",
    }
    assert client.get(f"/api/access/audit?run_id={run_id}").json()["total"] == 2
    only = client.get("/api/access/audit?action=add&user_id=u1&limit=1").json()
    assert only["total"] == 1 and only["items"][0]["cause"] == "contact"
    assert client.get("/api/access/audit?offset=2").json()["items"][0]["action"] == "add"
    assert client.get("/api/access/audit?action=delete").status_code == 422
    assert client.get("/api/access/audit?run=1").status_code == 422  # a typo is not ignored
    assert client.get("/api/access/audit", headers={"Authorization": ""}).status_code == 401

    run = client.get(f"/api/sync-logs/{run_id}").json()
    assert run["access_changes_total"] == 2
    assert [c["user_id"] for c in run["access_changes"]] == ["u2", "u1"]
