"""Property-based API test: schemathesis generates requests from the OpenAPI schema and
checks that the live server never answers 5xx and that its answers match the schema."""

from __future__ import annotations

import time
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from chute.http import create_app
from tests.http.conftest import LiveServer, fast_config

# Bounded: a few examples per operation keeps the whole run (both backends) well under 60 s.
EXAMPLES = 8


def test_api_matches_its_schema_and_never_fails(chute_env: str) -> None:
    config = fast_config(max_wait=0.2)
    schema = schemathesis.openapi.from_dict(create_app(config).openapi())
    start = time.monotonic()
    with LiveServer(config) as server:
        import requests

        with requests.Session() as session:
            # Something to find: existing objects make the happy paths reachable too.
            session.post(f"{server.url}/queues/q")
            session.post(f"{server.url}/queues/q/put", json={"value": 1})
            session.post(f"{server.url}/dicts/d")
            session.put(f"{server.url}/dicts/d/keys/k", json={"value": "v"})
            results = list(schema.get_all_operations())
            operations = [result.ok() for result in results if isinstance(result, Ok)]
            assert len(operations) == len(results) > 30  # every operation parsed
            for operation in operations:

                @given(case=operation.as_strategy())
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                def check(case: Any) -> None:
                    # Every default check except "schema-valid requests are accepted": some
                    # rules cannot be written in OpenAPI (partition keys are at most 64 UTF-8
                    # bytes, `partition` excludes `total`, cursors are opaque). Those get a
                    # deliberate 400 naming chute's InvalidError, asserted below instead.
                    response = case.call_and_validate(
                        base_url=server.url,
                        session=session,
                        timeout=10,
                        excluded_checks=[positive_data_acceptance],
                    )
                    if response.status_code == 400:
                        assert response.json()["type"] == "InvalidError", response.text

                check()
    assert time.monotonic() - start < 60
