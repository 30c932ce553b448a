"""salarynet serve: the API through FastAPI's TestClient, on runs trained from the snapshot."""

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from salarynet.apps import serve
from salarynet.apps.cli import app
from salarynet.errors import ArtifactError
from salarynet.estimator import load

PERSON = {
    "age": "25-34",
    "experience_overall": "5-7 years",
    "experience_field": "5-7 years",
    "education": "Master's degree",
    "gender": "Woman",
    "industry": "Computing or Tech",
    "job_title": "Data Scientist",
    "country": "United States",
    "state": "California",
    "city": "San Francisco",
    "race": "White",
}
OTHERS = [
    PERSON | {"job_title": "Cashier", "city": "Omaha", "state": "Nebraska"},
    PERSON | {"age": "45-54", "experience_field": "21 - 30 years", "job_title": "General Counsel"},
    PERSON | {"gender": None, "education": None, "race": ["Asian or Asian American", "White"]},
    PERSON | {"country": "Atlantis", "city": "Zorblax", "job_title": "Chief Dragon Officer"},
]


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(serve.create_app(runs / "recommended"))


def post(client, body):
    return client.post("/predict", json=body)


def test_health_and_model_describe_the_run(client, runs):
    assert client.get("/health").json()["status"] == "ok"
    model = client.get("/model").json()
    saved = json.loads((runs / "recommended" / "metrics.json").read_text())
    assert model["task"] == "binary" and model["threshold"] == 100000
    assert model["metrics"] == saved["test"] and model["rows"] == saved["rows"]
    assert model["data"]["sha256"] == json.loads((runs / "recommended" / "data.json").read_text())["sha256"]
    fields = {f["name"]: f for f in model["fields"]}
    assert fields["age"]["kind"] == "choice" and fields["age"]["allowed"][:3] == [
        "under 18",
        "18-24",
        "25-34",
    ]  # band order
    assert fields["experience_field"]["allowed"][0] == "1 year or less"
    assert "Master's degree" in fields["education"]["allowed"]  # the survey's spelling, not the folded key
    assert "Hispanic, Latino, or Spanish origin" in fields["race"]["allowed"] and fields["race"]["kind"] == "multi"
    assert (
        fields["job_title"]["kind"] == "text"
        and fields["city"]["kind"] == "text"
        and "Boston" in fields["city"]["allowed"]
    )


def test_one_prediction(client):
    answer = post(client, PERSON).json()
    assert 0 < answer["probability"] < 1 and answer["class"] == int(answer["probability"] > 0.5)
    assert answer["year"] == 2021  # the runs learned the 2021 survey: its dollars, unless the body asks
    assert answer["answer"] in ("above $100,000 in 2021 dollars", "at or below $100,000 in 2021 dollars")


def test_every_answer_says_what_the_model_made_of_unlearned_answers(client):
    assert post(client, PERSON).json()["flags"] == []  # every answer learned, the country as the model knows it
    flags = post(client, OTHERS[3] | {"state": None}).json()["flags"]
    assert {(f["field"], f["kind"], f["answer"]) for f in flags} == {
        ("country", "unknown", "Atlantis"),
        ("city", "unknown", "Zorblax"),
        ("job_title", "unknown_words", "dragon"),
    }
    assert all(set(f) == {"field", "kind", "answer", "message"} and f["answer"] in f["message"] for f in flags)
    typo = post(client, PERSON | {"country": "Unites States"}).json()
    assert typo["flags"] == [
        {
            "field": "country",
            "kind": "resolved",
            "answer": "Unites States",
            "message": "country 'Unites States' read as 'United States'",
        }
    ]
    assert typo["probability"] == post(client, PERSON).json()["probability"]
    batch = post(client, [PERSON, OTHERS[3]]).json()["predictions"]
    assert batch[0]["flags"] == [] and len(batch[1]["flags"]) >= 3


def test_one_answer_comes_with_its_explanation_and_a_list_without(client):
    answer = post(client, PERSON | {"industry": "Nonprofits", "state": "Ohio", "city": "Columbus"}).json()
    why = answer["explanation"]
    assert why["sentence"].startswith("Against the commonest answers, ") and "Nonprofits" in why["sentence"]
    assert {"field", "answer", "typical", "effect", "effect_text"} == set(why["reasons"][0])
    assert why["counterfactual"] is None or why["counterfactual"]["field"] in (
        "education",
        "experience_field",
        "industry",
        "state",
        "city",
    )
    assert why["counterfactual_sentence"]
    assert all("explanation" not in p for p in post(client, [PERSON, PERSON]).json()["predictions"])
    plain = client.post("/predict?explain=false", json=PERSON).json()
    assert "explanation" not in plain and plain["probability"] == post(client, PERSON).json()["probability"]
    bad = client.post("/predict?explain=maybe", json=PERSON)
    assert bad.status_code == 422 and "explain='maybe'" in bad.json()["detail"]


def test_answers_match_up_to_case_and_spaces_and_free_text_is_free(client):
    folded = PERSON | {"education": "  master's DEGREE ", "gender": "woman", "race": "white"}
    same = ("probability", "class", "answer", "flags")
    assert [post(client, folded).json()[k] for k in same] == [post(client, PERSON).json()[k] for k in same]
    assert post(client, OTHERS[3]).status_code == 200  # unseen country, city and title words: the reserved index


def test_batch_equals_single_predictions(client):
    batch = post(client, [PERSON, *OTHERS]).json()["predictions"]
    singles = [post(client, p).json() for p in [PERSON, *OTHERS]]
    assert len(batch) == 5
    for b, s in zip(batch, singles):
        assert b["class"] == s["class"] and b["probability"] == pytest.approx(
            s["probability"], abs=2e-6
        )  # both rounded to 6 places
    assert len({round(b["probability"], 4) for b in batch}) > 1
    assert post(client, []).json() == {"predictions": []}


@pytest.fixture(scope="module")
def tutorial(run_dir):
    return TestClient(serve.create_app(run_dir))


TUTORIAL_PERSON = {k: PERSON[k] for k in ("age", "experience_overall", "education", "gender")}
UNKNOWN = [
    ({"age": "99-100"}, "age", "99-100"),
    ({"experience_overall": "5 years"}, "experience_overall", "5 years"),
    ({"gender": "Martian"}, "gender", "Martian"),
    ({"education": "Bachelor of Wizardry"}, "education", "Bachelor of Wizardry"),
]


@pytest.mark.parametrize("change, field, sent", UNKNOWN)
def test_an_answer_off_an_ordinal_scale_is_422_naming_field_value_and_allowed(tutorial, change, field, sent):
    response = post(tutorial, TUTORIAL_PERSON | change)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field] and error["field"] == field
    assert repr(sent) in error["msg"] and error["allowed"] and error["allowed"][0] in error["msg"]


@pytest.mark.parametrize(
    "change, field, sent",
    [*UNKNOWN, ({"race": "White, Martian"}, "race", "Martian"), ({"state": "Atlantis"}, "state", "Atlantis")],
)
def test_a_category_answer_the_model_did_not_learn_is_read_as_rare_and_flagged(client, change, field, sent):
    response = post(client, PERSON | change)
    assert response.status_code == 200, response.json()
    [flag] = [f for f in response.json()["flags"] if f["field"] == field]
    assert flag["kind"] == "unknown" and sent in flag["answer"]


def test_missing_wrong_type_extra_and_too_long_are_422(client):
    missing = post(client, {k: v for k, v in PERSON.items() if k != "age"}).json()["detail"]
    assert missing[0]["field"] == "age" and "age: an answer is required" in missing[0]["msg"]
    assert "25-34" in missing[0]["allowed"]
    blank = post(client, PERSON | {"experience_overall": " "}).json()["detail"]
    assert blank[0]["field"] == "experience_overall"
    wrong = post(client, PERSON | {"age": 30}).json()["detail"]
    assert wrong[0]["field"] == "age" and wrong[0]["input"] == 30
    extra = post(client, PERSON | {"salary": "200000"}).json()["detail"]
    assert (
        extra[0]["field"] == "salary" and "'salary' is not a survey question; this model reads: age" in extra[0]["msg"]
    )
    long = post(client, PERSON | {"job_title": "x" * (serve.MAX_TEXT + 1)})
    assert long.status_code == 422 and long.json()["detail"][0]["field"] == "job_title"


def test_any_header_schemas_names_any_case_and_unread_questions(client):
    """The names a file may have are the names an answer set may have; a question the model does not read is
    ignored, as a file's other columns are."""
    plain = post(client, PERSON).json()
    renamed = {
        "How old are you?" if k == "age" else k.upper() if k != "experience_overall" else k: v
        for k, v in PERSON.items()
    }
    assert post(client, renamed).json()["probability"] == plain["probability"]
    assert post(client, PERSON | {"annual_salary": "1000000"}).json()["probability"] == plain["probability"]
    twice = post(client, PERSON | {"Age": "35-44"}).json()["detail"]
    assert twice[0]["msg"] == "'age' and 'Age' both answer age; keep one"


def test_bad_bodies_are_422(client):
    for body in (b"{not json", b'"a string"', b"42", b"[1, 2]"):
        response = client.post("/predict", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, body
    in_batch = post(client, [PERSON, PERSON | {"age": None}]).json()["detail"]
    assert in_batch[0]["loc"] == ["body", 1, "age"]


def test_oversized_list_or_body_is_413(client):
    assert post(client, [PERSON] * (serve.MAX_BATCH + 1)).status_code == 413
    huge = json.dumps(PERSON | {"job_context": "y" * (serve.MAX_BODY + 10)})
    assert client.post("/predict", content=huge, headers={"content-type": "application/json"}).status_code == 413

    def chunks():  # no Content-Length: the limit holds as the body streams in
        for _ in range(serve.MAX_BODY // 65536 + 2):
            yield b" " * 65536

    assert client.post("/predict", content=chunks(), headers={"content-type": "application/json"}).status_code == 413


def send(client, raw: bytes):
    return client.post("/predict", content=raw, headers={"content-type": "application/json"})


def small_json(response, limit: int = 1000):
    """The body parsed, after checking it is UTF-8 JSON of at most `limit` bytes."""
    assert len(response.content) <= limit, len(response.content)
    return json.loads(response.content.decode("utf-8"))


@pytest.mark.parametrize("opening, middle, closing", [(b"[", b"", b"]"), (b'{"a":', b"1", b"}")])
def test_deep_nesting_is_one_short_422(client, opening, middle, closing):
    response = send(client, opening * 100_000 + middle + closing * 100_000)
    assert response.status_code == 422 and "nests over" in small_json(response)["detail"]


def test_nesting_up_to_the_limit_is_read_and_brackets_in_strings_do_not_count(client):
    def read(raw):  # parsed, then refused as answers (a list of errors), not refused unread (a sentence)
        response = send(client, raw)
        return response.status_code == 422 and isinstance(response.json()["detail"], list)

    depth = serve.MAX_DEPTH
    assert read(b"[" * depth + b"]" * depth) and not read(b"[" * (depth + 1) + b"]" * (depth + 1))
    assert read(b'["' + b"[{" * 100 + b'\\"' + b"[" * 100 + b'", "\\\\", "[["]')


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"-Infinity", b"1e999999", b"-1e999999", b"9" * 5000])
def test_numbers_json_cannot_write_back_are_422(client, raw):
    response = send(client, b'{"age": ' + raw + b"}")
    assert response.status_code == 422 and "cannot read the body" in small_json(response)["detail"]


@pytest.mark.parametrize(
    "change", [{"age": "\ud800"}, {"job_title": "\udfff x"}, {"race": ["White", "\ud800"]}, {"\ud800": "Martian"}]
)
def test_lone_surrogates_are_422_with_an_encodable_body(client, change):
    raw = json.dumps(PERSON | change).encode()  # ensure_ascii writes the escape \ud800, which json.loads reads back
    response = send(client, raw)
    assert response.status_code == 422 and small_json(response)["detail"]


def test_a_large_bad_request_gets_a_small_422(client, tutorial):
    bad = {"age": "old" * 50, "gender": "Martian" * 10, "race": "x" * 500, "education": ["list"], "pet": "cat"}
    body = [TUTORIAL_PERSON | bad] * 120  # race: a question the tutorial's model does not read
    raw = json.dumps(body).encode()
    assert len(raw) > 70_000
    response = send(tutorial, raw)
    assert response.status_code == 422
    answer = small_json(response, limit=8192)
    shown = answer["detail"]
    assert 0 < len(shown) <= serve.MAX_ERRORS and len(shown) + answer["omitted"] == 4 * len(body)
    assert all(len(e.get("allowed", [])) <= serve.SHOWN and len(e["msg"]) < 600 for e in shown)
    inputs = [e["input"] for e in shown if isinstance(e.get("input"), str)]
    assert max(map(len, inputs)) == serve.ECHO + 1 and all(len(i) <= serve.ECHO + 1 for i in inputs)
    assert any(i.endswith("…") for i in inputs)
    one = send(client, json.dumps(PERSON | {"job_title": 3, "pet" * 1000: 1}).encode())
    assert one.status_code == 422
    extra, wrong = small_json(one, limit=8192)["detail"]  # names first, then the answers
    assert wrong["input"] == 3 and len(extra["field"]) == serve.ECHO + 1 and extra["loc"] == ["body", extra["field"]]


def test_model_names_no_path_of_the_server(client, runs):
    def strings(value) -> list[str]:  # every string in a JSON value, keys included
        if isinstance(value, dict):
            value = [*value, *value.values()]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return [value] if isinstance(value, str) else []

    text = client.get("/model").text
    saved = json.loads((runs / "recommended" / "data.json").read_text())
    assert Path(saved["file"]).is_absolute() and saved["file"] not in text  # the fixture trains on a path
    found = strings(json.loads(text))
    assert not [s for s in found if s.startswith(("/", "\\")) or str(runs) in s or str(runs.parent) in s]
    data = json.loads(text)["data"]
    assert data["file"] == Path(saved["file"]).name and data["sha256"] == saved["sha256"]


def test_docs_are_off_and_the_openapi_schema_is_served(client):
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    predict = schema.json()["paths"]["/predict"]["post"]
    assert set(predict["responses"]) == {"200", "413", "422"}
    assert [s["type"] for s in predict["requestBody"]["content"]["application/json"]["schema"]["oneOf"]] == [
        "object",
        "array",
    ]


def test_bands_and_range_models(runs):
    bands = TestClient(serve.create_app(runs / "recommended-bands"))
    names = bands.get("/model").json()["bands"]
    answer = post(bands, PERSON).json()
    assert answer["band"] in names and names.index(answer["band"]) == answer["class"]
    ranged = TestClient(serve.create_app(runs / "recommended-range"))
    answer = post(ranged, PERSON).json()
    assert 10_000 < answer["low"] <= answer["salary"] <= answer["high"] < 1_000_000


def test_the_page_and_its_script(client):
    page = client.get("/")
    assert page.status_code == 200 and '<form id="form"' in page.text and 'src="app.js"' in page.text
    script = client.get("/app.js")
    assert script.headers["content-type"].startswith("text/javascript") and 'fetch("model")' in script.text


@pytest.mark.parametrize("damage", ["tamper", "truncate", "remove"])
def test_a_damaged_model_stops_the_server_at_start(runs, tmp_path, damage):
    bad = tmp_path / "bad"
    shutil.copytree(runs / "recommended", bad)
    weights = bad / "model.safetensors"
    data = weights.read_bytes()
    if damage == "tamper":
        weights.write_bytes(data[:-8] + bytes(8))
    elif damage == "truncate":
        weights.write_bytes(data[: len(data) // 2])
    else:
        weights.unlink()
    with pytest.raises(ArtifactError):
        serve.create_app(bad)
    result = CliRunner().invoke(app, ["serve", str(bad), "--port", "0"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "error:" in result.output
    assert "model.safetensors" in result.output


def test_the_tutorial_run_needs_its_four_answers(run_dir):
    tutorial = TestClient(serve.create_app(run_dir))
    fields = {f["name"]: f for f in tutorial.get("/model").json()["fields"]}
    assert set(fields) == {"age", "experience_overall", "gender", "education"}
    assert all(f["required"] and f["kind"] == "choice" for f in fields.values())
    answer = post(
        tutorial, {"age": "25-34", "experience_overall": "5-7 years", "gender": "Man", "education": "PhD"}
    ).json()
    assert 0 <= answer["probability"] <= 1
    assert (
        post(
            tutorial, {"age": "25-34", "experience_overall": "5-7 years", "gender": "Non-binary", "education": "PhD"}
        ).status_code
        == 422
    )  # the tutorial's model knows Woman and Man only


def test_a_port_in_use_is_one_line_and_exit_2(runs):
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "salarynet", "serve", str(runs / "recommended"), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2 and f"error: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert result.stderr.strip().count("\n") == 0  # one line, no traceback


def test_health_answers_while_a_large_batch_is_predicted(runs, monkeypatch):
    """Predictions run off the event loop: /health is answered while a 1,000-row request is held in the worker."""
    import threading

    entered, gate = threading.Event(), threading.Event()

    class Held(serve.Batcher):
        def __init__(self, predict, most=serve.MAX_BATCH):
            def held(rows):
                entered.set()
                gate.wait(60)
                return predict(rows)

            super().__init__(held, most)

    monkeypatch.setattr(serve, "Batcher", Held)
    with TestClient(serve.create_app(runs / "recommended")) as c:
        big, health = [], []
        worker = threading.Thread(target=lambda: big.append(c.post("/predict?explain=false", json=[PERSON] * 1000)))
        worker.start()
        assert entered.wait(60)
        asker = threading.Thread(target=lambda: health.append(c.get("/health")))
        asker.start()
        asker.join(10)
        answered_first = bool(health) and not big
        gate.set()
        worker.join(120)
        asker.join(10)
    assert answered_first and health[0].status_code == 200
    assert big[0].status_code == 200 and len(big[0].json()["predictions"]) == 1000


def test_requests_that_arrive_together_are_predicted_in_bounded_batches():
    import asyncio

    sizes = []

    def predict(rows):
        sizes.append(len(rows))
        return [{"i": r["i"]} for r in rows]

    async def main():
        batcher = serve.Batcher(predict, most=10)
        return await asyncio.gather(*(batcher([{"i": i}] * 4) for i in range(7)))

    answers = asyncio.run(main())
    assert [a[0]["i"] for a in answers] == list(range(7)) and all(len(a) == 4 for a in answers)
    assert sum(sizes) == 28 and max(sizes) <= 10 and len(sizes) >= 3  # 7 requests of 4 rows: 8 + 8 + 8 + 4


@pytest.mark.parametrize("name", ["recommended", "recommended-bands", "recommended-range"])
def test_the_schema_describes_every_answer_and_the_answers_keep_to_it(runs, name):
    """GET /openapi.json's 200 response names every field of an answer for the run's task (responses.py), and
    the answers (one with its explanation, one without, a list) are what it says, to the last field."""
    from salarynet.apps.responses import ANSWERS

    client = TestClient(serve.create_app(runs / name))
    task = client.get("/model").json()["task"]
    model = ANSWERS[task]
    ok = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["responses"]["200"]
    one, many = ok["content"]["application/json"]["schema"]["oneOf"]
    assert set(one["properties"]) == {f.alias or n for n, f in model.model_fields.items()} and "$ref" not in str(one)
    assert many["properties"]["predictions"]["items"] == one
    explained = post(client, PERSON).json()
    assert model.model_validate(explained).explanation is not None
    assert load(runs / name).explain(PERSON) == explained["explanation"]  # Python's explain says the same
    assert model.model_validate(client.post("/predict?explain=false", json=PERSON).json()).explanation is None
    for answer in post(client, [PERSON, PERSON | {"state": "Ohio"}]).json()["predictions"]:
        model.model_validate(answer)
    with pytest.raises(ValueError):  # the models are strict: an answer with a field they do not name is refused
        model.model_validate(explained | {"surprise": 1})
