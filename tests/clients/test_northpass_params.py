"""Pure Northpass helpers: filter parameters and when a `links.next` is safe to follow."""

from __future__ import annotations

import datetime as dt

import pytest

from partnersync.clients.northpass import filter_params, next_page_request
from partnersync.clients.transport import ApiRequest

BASE = "http://127.0.0.1:8123"
OURS = {"limit": "100", "filter[updated_at][gteq]": "2024-01-01T00:00:00Z", "sort": "id"}


def test_filter_params() -> None:
    since = dt.datetime(2024, 1, 1, 1, 2, 3, 999, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert filter_params(
        {
            "updated_at": {"gteq": since},
            "email": {"eq": "a@b.c"},
            "name": "acme",
            "type": {"in": ["x", "y"]},
            "published": {"eq": True},
        }
    ) == {
        "filter[updated_at][gteq]": "2023-12-31T23:02:03Z",
        "filter[email][eq]": "a@b.c",
        "filter[name]": "acme",
        "filter[type][in]": "x,y",
        "filter[published][eq]": "true",
    }


def test_naive_filter_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        filter_params({"updated_at": {"gteq": dt.datetime(2024, 1, 1)}})


def test_a_faithful_next_link_is_followed_as_is() -> None:
    link = (
        f"{BASE}/v2/people?limit=100&filter%5Bupdated_at%5D%5Bgteq%5D=2024-01-01T00%3A00%3A00Z"
        "&sort=id&page=3"
    )
    assert next_page_request(BASE, "/v2/people", OURS, 3, link) == ApiRequest("GET", link)


@pytest.mark.parametrize(
    "link",
    [
        f"{BASE}/v2/people?page=3",  # dropped limit and filters (the doc example)
        f"{BASE}/v2/people?limit=100&sort=id&page=3",  # dropped the filter: would widen the query
        f"{BASE}/v2/people?limit=25&page=3&sort=id&filter%5Bupdated_at%5D%5Bgteq%5D=x",
        "https://elsewhere.example/v2/people?page=3",  # never send our key elsewhere
        f"{BASE}/v2/groups?limit=100&page=3",  # another collection
        f"{BASE}/v2/people?limit=100&filter%5Bupdated_at%5D%5Bgteq%5D=2024-01-01T00%3A00%3A00Z"
        "&sort=id&page=2",  # not the page we expect: would loop
    ],
)
def test_an_unfaithful_next_link_is_replaced_by_our_own_parameters(link: str) -> None:
    request = next_page_request(BASE, "/v2/people", OURS, 3, link)
    assert request == ApiRequest("GET", "/v2/people", (*OURS.items(), ("page", "3")))


def test_relative_next_links_are_resolved_against_the_base() -> None:
    request = next_page_request(
        BASE, "/v2/people", {"limit": "50"}, 2, "/v2/people?limit=50&page=2"
    )
    assert request.url == f"{BASE}/v2/people?limit=50&page=2"


def test_requests_describe_themselves_without_secrets() -> None:
    request = ApiRequest("GET", "/v2/people", (("limit", "100"), ("filter[email][eq]", "a@b.c")))
    assert request.describe() == "GET /v2/people?limit=100&filter[email][eq]=a@b.c"
