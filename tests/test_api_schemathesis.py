"""Schemathesis against the served OpenAPI document (issue 11): every operation, with a machine
client's token and a reviewer's personal token, a bounded number of examples each. Checks: no
response is a server error, and every response conforms to the documented schema.

The operations are driven through Hypothesis directly (``operation.as_strategy()``): schemathesis'
pytest plugin does not run under this pytest version."""
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from .api_helpers import auth, machine_token, personal_token

EXAMPLES = 6
CHECKS = [not_a_server_error, response_schema_conformance]


def test_the_api_answers_every_operation_within_its_schema(app, world, ctx):
    ctx.config["API_RATE_LIMIT"] = "100000 per minute"
    tokens = {"machine": machine_token(), "reviewer": personal_token("agency_reviewer")}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    tried, failures = [], []
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            tried.append(operation.label)

            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def run(case):
                for token in tokens.values():
                    case.call_and_validate(headers=auth(token), checks=CHECKS)
            try:
                run()
            except Exception as exc:   # noqa: BLE001 — every operation is tried, failures listed together
                failures.append(f"{operation.label}: {exc}")
    finally:
        ctx.config.pop("API_RATE_LIMIT")
    print(f"{len(tried)} operations tried", *failures, sep="\n")
    assert len(tried) >= 6
    assert failures == []
