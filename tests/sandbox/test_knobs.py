import json
import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from partnersync.sandbox.knobs import Knobs, PageMutation, busiest_second
from partnersync.sandbox.server import RunningSandbox

from .conftest import NOW, Clock

USERS = "/api/objects/v1/User"


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_rate_limit_per_key_and_per_api(
    sb: RunningSandbox, np: httpx.Client, imp: httpx.Client
) -> None:
    sb.set_knobs(rate_limit_per_second=5)
    statuses = [np.get("/v2/courses").status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
    limited = np.get("/v2/courses")
    assert limited.status_code == 429
    assert limited.json()["errors"][0]["status"] == "429"
    assert "retry-after" not in limited.headers
    other_key = np.get("/v2/courses", headers={"X-Api-Key": sb.northpass_keys[1]})
    assert other_key.status_code == 200
    assert imp.get(USERS).status_code == 200  # Impartner has its own buckets
    time.sleep(0.25)
    assert np.get("/v2/courses").status_code == 200  # tokens refill
    sb.set_knobs(retry_after_seconds=1.5)
    for _ in range(10):
        limited = np.get("/v2/courses")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    sb.set_knobs(rate_limit_per_second=None)
    assert all(np.get("/v2/courses").status_code == 200 for _ in range(20))


def test_injected_429_and_5xx(sb: RunningSandbox, np: httpx.Client, imp: httpx.Client) -> None:
    sb.set_knobs(fault_429_share=1.0, retry_after_seconds=3)
    response = imp.get(USERS)
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
    assert response.json()["success"] is False
    sb.set_knobs(fault_429_share=0.0, fault_5xx_share=1.0)
    failed = np.get("/v2/people")
    assert failed.status_code in (500, 502, 503, 504)
    assert failed.headers["content-type"].startswith("text/html")
    sb.set_knobs(fault_5xx_share=0.5, fault_seed=3)
    first = [np.get("/v2/people").status_code for _ in range(20)]
    sb.set_knobs(fault_seed=3)
    assert [np.get("/v2/people").status_code for _ in range(20)] == first  # repeatable
    assert 200 in first and any(s >= 500 for s in first)


def test_faults_can_target_one_path(sb: RunningSandbox, np: httpx.Client) -> None:
    sb.set_knobs(fault_5xx_share=1.0, fault_path_prefix="/v2/transcripts")
    assert np.get("/v2/people").status_code == 200
    person_id = next(iter(sb.dataset.transcripts))
    assert np.get(f"/v2/transcripts/{person_id}").status_code >= 500


def test_malformed_json_bodies(sb: RunningSandbox, np: httpx.Client) -> None:
    sb.set_knobs(fault_malformed_share=1.0)
    response = np.get("/v2/people")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_timeouts_hang_past_the_client_timeout(sb: RunningSandbox, np: httpx.Client) -> None:
    sb.set_knobs(fault_timeout_share=1.0, timeout_hang_seconds=5)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        np.get("/v2/people", timeout=0.3)
    assert time.monotonic() - started < 2
    sb.set_knobs(timeout_hang_seconds=0.2)
    assert np.get("/v2/people", timeout=3).status_code == 504
    assert sb.stats()["routes"]["GET /v2/people"]["by_status"]["timeout"] == 2


def test_dropped_connections(sb: RunningSandbox, np: httpx.Client) -> None:
    sb.set_knobs(fault_drop_share=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        np.get("/v2/people")
    sb.set_knobs(fault_drop_share=0.0)
    assert np.get("/v2/people").status_code == 200
    assert sb.stats()["routes"]["GET /v2/people"]["by_status"] == {"dropped": 1, "200": 1}


def test_latency(sb: RunningSandbox, np: httpx.Client) -> None:
    sb.set_knobs(latency_ms=150)
    started = time.monotonic()
    np.get("/v2/groups")
    assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize(
    ("style", "kept"),
    [
        ("all", {"limit", "filter[email]", "sort", "page"}),
        ("drop_limit", {"filter[email]", "sort", "page"}),
        ("drop_filters", {"limit", "page"}),
    ],
)
def test_next_link_parameter_fidelity(
    sb: RunningSandbox, np: httpx.Client, style: str, kept: set[str]
) -> None:
    sb.set_knobs(northpass_next_link_params=style)
    body = np.get("/v2/people", params={"limit": 2, "filter[email]": "@", "sort": "email"}).json()
    assert set(query(body["links"]["next"])) == kept
    assert set(query(body["links"]["self"])) == {"limit", "filter[email]", "sort"}


def test_last_page_variants_and_meta(sb: RunningSandbox, np: httpx.Client) -> None:
    total = len(sb.dataset.groups)
    params = {"limit": total}
    assert "next" not in np.get("/v2/groups", params=params).json()["links"]
    sb.set_knobs(northpass_last_page_next="null")
    assert np.get("/v2/groups", params=params).json()["links"]["next"] is None
    sb.set_knobs(northpass_next_on_full_last_page=True, northpass_meta=True)
    body = np.get("/v2/groups", params=params).json()
    assert body["meta"] == {"total_count": total, "total_pages": 1}
    following = np.get(body["links"]["next"]).json()
    assert following["data"] == [] and following["links"]["next"] is None


def test_deleting_between_pages_makes_offset_paging_skip_a_record(
    sb: RunningSandbox, np: httpx.Client
) -> None:
    before = list(sb.dataset.people)
    sb.set_knobs(page_mutations=[{"listing": "people", "after_page": 1, "action": "delete"}])
    first = np.get("/v2/people", params={"limit": 10}).json()
    second = np.get(first["links"]["next"]).json()
    seen = [r["id"] for r in first["data"] + second["data"]]
    assert before[0] not in sb.dataset.people
    assert before[10] not in seen  # shifted onto page 1 after it was served
    assert seen == before[:10] + before[11:21]


def test_touching_between_pages_shifts_a_filtered_listing(
    sb: RunningSandbox, np: httpx.Client, clock: Clock
) -> None:
    people = list(sb.dataset.people)
    clock.now = NOW + timedelta(hours=1)
    for person_id in people[10:18]:
        sb.dataset.touch_person(person_id)
    params: dict[str, Any] = {"limit": 5, "filter[updated_at][gteq]": "2026-03-10T13:00:00Z"}
    sb.set_knobs(page_mutations=[PageMutation("people", 1, "touch")])
    first = np.get("/v2/people", params=params).json()
    second = np.get(first["links"]["next"]).json()
    assert [r["id"] for r in first["data"]] == people[10:15]
    # people[0] was touched into the window ahead of the cursor: page 2 repeats people[14]
    # and a client stopping here never sees people[0].
    assert [r["id"] for r in second["data"]] == people[14:18]
    assert "next" not in second["links"]


@pytest.mark.parametrize(("action", "delta"), [("insert", 2), ("delete", -2), ("touch", 0)])
def test_impartner_mutations_between_pages(
    sb: RunningSandbox, imp: httpx.Client, action: str, delta: int
) -> None:
    total = len(sb.dataset.users)
    sb.set_knobs(
        page_mutations=[{"listing": "User", "after_page": 2, "action": action, "count": 2}]
    )
    counts = [
        imp.get(USERS, params={"skip": 10 * n, "orderby": "Id"}).json()["data"]["count"]
        for n in range(3)
    ]
    assert counts == [total, total, total + delta]


def test_knob_validation() -> None:
    with pytest.raises(TypeError):
        Knobs().updated(no_such_knob=1)
    with pytest.raises(ValueError):
        Knobs().updated(
            page_mutations=[{"listing": "memberships", "after_page": 1, "action": "touch"}]
        )


def test_control_endpoints(sb: RunningSandbox, np: httpx.Client) -> None:
    control = httpx.Client(base_url=sb.base_url)
    assert control.get("/_sandbox/knobs").json()["rate_limit_per_second"] is None
    changed = control.post(
        "/_sandbox/knobs",
        json={
            "latency_ms": 5,
            "page_mutations": [
                {"listing": "groups", "after_page": 3, "action": "insert", "count": 1}
            ],
        },
    )
    assert changed.status_code == 200 and changed.json()["latency_ms"] == 5
    assert sb.knobs.page_mutations == (PageMutation("groups", 3, "insert", 1),)
    assert control.post("/_sandbox/knobs", json={"bogus": 1}).status_code == 400
    assert control.post("/_sandbox/knobs", content=b"[").status_code == 400
    np.get("/v2/people")
    np.get("/v2/people/nope")
    httpx.get(f"{sb.base_url}/v2/people")
    stats: dict[str, Any] = control.get("/_sandbox/stats").json()
    assert stats["total"] == 3
    assert stats["routes"]["GET /v2/people"] == {"total": 2, "by_status": {"200": 1, "401": 1}}
    assert stats["routes"]["GET /v2/people/{id}"]["by_status"] == {"404": 1}
    assert control.post("/_sandbox/reset-counters").status_code == 204
    assert sb.stats() == {"total": 0, "routes": {}}


def test_the_busiest_second_is_a_sliding_window_of_arrivals() -> None:
    assert busiest_second([]) == 0
    assert busiest_second([1.2, 0.0, 0.5, 0.99, 1.0]) == 4  # 0.5 … 1.2; the window is [t, t+1)
    assert busiest_second([0.0, 1.0, 2.0]) == 1
