"""Schemathesis: generated requests against every operation of the published OpenAPI document."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine

from partnersync.web.app import create_app
from tests.conftest import empty_database

from .conftest import AUTH, breaks, quick, web_settings


@pytest.fixture
def api_schema(sqlite_engine: Engine) -> object:
    empty_database(sqlite_engine)
    app = create_app(
        sqlite_engine, web_settings(), functions={"sync_users": quick, "sync_groups": breaks}
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_document(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=AUTH)
