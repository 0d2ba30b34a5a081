"""GraphQL operations are limited per caller: RATE_LIMITED with Retry-After, other callers unaffected."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from benchlab.app import create_app
from benchlab.config import Settings
from tests.helpers.access import sign_in

QUERY = {"query": "{ viewer { kind } }"}


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(dataclasses.replace(settings, graphql_rate_limit=3))) as client:
        yield client


def test_over_the_limit_is_rate_limited_with_retry_after(limited: TestClient) -> None:
    sign_in(limited, "busy@example.com")
    for _ in range(3):
        assert "errors" not in limited.post("/graphql", json=QUERY).json()
    refused = limited.post("/graphql", json=QUERY)
    body = refused.json()
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert body["errors"][0]["extensions"]["retryAfter"] == int(refused.headers["retry-after"])
    limited.cookies.clear()  # another caller (anonymous, by address) has its own budget
    assert "errors" not in limited.post("/graphql", json=QUERY).json()
