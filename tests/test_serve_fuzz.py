"""salarynet serve fuzzed: Schemathesis draws requests from the app's own OpenAPI schema and sends them in process."""

import json

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from salarynet.apps import serve

EXAMPLES = 300  # per operation and mode: /predict takes 5-10 s a mode on 2 cores
# No example database: a failure is reported with its request, not saved for replay inside the clone.
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None)
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
# Every operation in the schema (test_every_operation_is_fuzzed keeps the list whole). Negative requests
# only for /predict: the GET routes take no parameters, so nothing they accept can be broken.
OPERATIONS = [
    ("POST", "/predict", POSITIVE),
    ("POST", "/predict", NEGATIVE),
    ("GET", "/health", POSITIVE),
    ("GET", "/model", POSITIVE),
    ("GET", "/", POSITIVE),
    ("GET", "/app.js", POSITIVE),
]
TALLY = {"examples": 0, "failures": 0, "json": 0}  # Schemathesis requests, those that failed; other JSON bodies


@pytest.fixture(scope="module")
def app(runs):
    return serve.create_app(runs / "recommended")


@pytest.fixture(scope="module")
def api(app):
    # The schema is loaded from the app inside a fixture, not at import (the trained run is a fixture), and
    # schemathesis.pytest.from_fixture fails under pytest 9 (it reads Function._nodeid): so the tests draw
    # their cases from the schema's strategies with Hypothesis's own @given.
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def check(response, sent: bytes | None) -> None:
    """No server error; every error body JSON, and small: at most 8 KB or the size of the request."""
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert len(response.content) <= max(8192, len(sent or b"")), len(response.content)
        assert "detail" in json.loads(response.content.decode("utf-8"))


def call(case, mode: GenerationMode) -> None:
    if mode.is_positive:
        # Schemathesis's own checks too: documented status and content type, bodies matching their schemas.
        response = case.call_and_validate()
        assert response.status_code in (200, 413)  # the schema is honest: all it allows is answered
    else:  # the API takes more than the schema says (answers match up to case), so no rejection check
        response = case.call()
    check(response, response.request.body)


def test_every_operation_is_fuzzed(api):
    listed = {(op.ok().method.upper(), op.ok().path) for op in api.get_all_operations()}
    assert listed == {(method, path) for method, path, _ in OPERATIONS}


@pytest.mark.parametrize("method, path, mode", OPERATIONS, ids=[f"{m} {p} {g.value}" for m, p, g in OPERATIONS])
def test_no_request_from_the_schema_breaks_the_api(api, method, path, mode):
    @given(case=api[path][method].as_strategy(mode))
    @FUZZ
    def fuzz(case):
        TALLY["examples"] += 1
        try:
            call(case, mode)
        except Exception:
            TALLY["failures"] += 1
            raise

    fuzz()


def json_values():
    """Any JSON Python's json reads, and more: NaN, infinities, lone surrogates, deep lists, the real keys."""
    # Lone surrogates as strings of their own: mixed into the alphabet they would almost never be drawn.
    text = st.text(st.characters(exclude_categories=()), max_size=30) | st.sampled_from(
        ["\ud800", "x\udfff", "\x00", '[{"\\', " 25-34 ", "x" * 2000]
    )
    leaves = st.none() | st.booleans() | st.integers() | st.floats() | text
    keys = st.sampled_from(["age", "race", "job_title", "gender"]) | text
    return st.recursive(
        leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5), max_leaves=40
    )


def test_no_json_value_breaks_the_api(app):
    # Not from the schema: bodies like the ones a hostile review found (NaN, lone surrogates, odd keys).
    client = TestClient(app)

    @given(value=json_values())
    @FUZZ
    def fuzz(value):
        TALLY["json"] += 1
        sent = json.dumps(value).encode()
        check(client.post("/predict", content=sent, headers={"content-type": "application/json"}), sent)

    fuzz()


def test_the_fuzzing_ran():  # last in the file: the tests above have run
    print(
        f"\nschemathesis: {TALLY['examples']} examples tried, failures: {TALLY['failures']}; "
        f"other JSON bodies: {TALLY['json']}"
    )
    assert TALLY["examples"] > 100 and TALLY["failures"] == 0 and TALLY["json"] > 100
