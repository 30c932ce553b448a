"""A saved run behind HTTP: FastAPI's JSON API and a one-page form.

GET /health, GET /model (task, fields with their allowed answers, metrics, provenance), POST /predict
(one answer set, or a list of at most MAX_BATCH), GET / (the page), GET /openapi.json. The run is loaded
and checked once, when the app is made; requests that arrive together are predicted together, off the event
loop. Whatever a client sends gets an answer or a small JSON error, never a server error.
"""

import asyncio
import json
import math
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import (
    AfterValidator,
    ConfigDict,
    StrictInt,
    StringConstraints,
    ValidationError,
    create_model,
)
from pydantic import (
    Field as PydanticField,
)
from pydantic_core import PydanticCustomError
from starlette.requests import ClientDisconnect

from .. import features
from ..answerset import Field, Refusal, canonical_names
from ..data.survey import tidy_survey
from ..data.wages import index_years
from ..errors import SalarynetError
from ..estimator import SalaryNet, load
from ..explain import explain
from .responses import answer_schema

MAX_BATCH = 1000  # answer sets in one POST /predict
YEAR = "year"  # an answer set's key for the year whose dollars its answer is in (no survey column is called that)
# Batches up to this many answer sets are predicted on the event loop (about 6 ms for 32 on the recommended run,
# so /health waits at most that); larger ones in the worker thread. Measured with benchmarks/serve_load.py:
# every batch in the worker cost a third of the throughput (963 against 1,489 requests/s at 32 clients).
INLINE_ROWS = 64
MAX_BODY = 1 << 20  # bytes; a list of MAX_BATCH long answer sets fits
MAX_TEXT = features.MAX_TEXT  # characters in one free-text answer (a model reads no more of one)
MAX_DEPTH = 16  # nesting of arrays and objects in a body; a list of answer sets with list answers needs 3
MAX_DIGITS = 100  # in a JSON integer; no answer is a number, but a 422 shows what was sent
MAX_ERRORS = 20  # errors a 422 lists, each ...
ERROR_BYTES = 8000  # ... until they fill this much of its body; the rest are counted
ECHO = 100  # characters of a sent value that a 422 shows
SHOWN = 10  # allowed answers an error lists (GET /model lists them all)
PROVENANCE = (
    "source",
    "file",
    "sha256",
    "bytes",
    "rows",
    "schema",
    "snapshot_date",
    "origin",
    "description",
    "read_at",
    "fetched_at",
    "notes",
    "year",
    "years",
)  # what /model shows of data.json: no folder of this machine
STATIC = resources.files("salarynet.apps") / "static"
# The page's icon (browsers ask for /favicon.ico whatever the page says): a small SVG, a rising line
FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2563eb"/>'
    b'<path d="M3 12 L7 8 L9 10 L13 4" stroke="#fff" stroke-width="2" fill="none"/></svg>'
)


def _clip(text: str) -> str:
    """At most ECHO characters, encodable as UTF-8 (a lone surrogate is shown escaped)."""
    text = text if len(text) <= ECHO else text[:ECHO] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _validator(f: Field):
    def check(value):
        try:
            return f.check(value)
        except Refusal as e:
            raise PydanticCustomError(e.kind, "{why}", {"why": str(e)}) from None

    return check


def _year_validator(net: SalaryNet):
    def check(value):
        if value is None:
            return None
        try:
            net.dollars_year(value)
        except SalarynetError as e:
            raise PydanticCustomError("year", "{why}", {"why": str(e)}) from None
        return value

    return check


def answers_model(fields: list[Field], net: SalaryNet):
    """The pydantic model of one answer set: unknown keys refused, each answer checked against the run's own;
    YEAR (optional): the year whose dollars the answer is in (Predictor.dollars_year)."""
    text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
    specs: dict[str, Any] = {YEAR: (Annotated[StrictInt | None, AfterValidator(_year_validator(net))], None)}
    for f in fields:
        kind = text | list[text] if f.kind == "multi" else text
        # Optional to pydantic, checked by the contract (answerset.py): a missing required answer is refused in its words
        specs[f.name] = (
            Annotated[kind | None, AfterValidator(_validator(f))],
            PydanticField(None, validate_default=True),
        )
    return create_model("Answers", __config__=ConfigDict(extra="forbid"), **specs)


def year_schema(net: SalaryNet) -> dict[str, Any]:
    """The year field as the OpenAPI schema shows it: the years a model of classes learned, or the wage index's."""
    first, last = index_years()
    years = net.learned_years()
    one = {"enum": years} if net.task_.classes else {"type": "integer", "minimum": first, "maximum": last}
    about = f"the year whose dollars the answer is in (default {years[-1]}, the latest survey year the model learned)"
    return {"description": about, "anyOf": [one, {"type": "null"}]}


def answers_schema(fields: list[Field], net: SalaryNet) -> dict[str, Any]:
    """One answer set as the OpenAPI schema shows it: stricter than the API, which also matches answers up to
    case and spaces and reads a multi's comma-separated answers, so every answer set it allows is predicted."""

    def answer(f: Field) -> dict[str, Any]:
        one = {"enum": list(f.allowed)} if f.kind != "text" else {"type": "string", "maxLength": MAX_TEXT}
        many = {"anyOf": [one, {"type": "array", "items": one}]} if f.kind == "multi" else one
        return many if f.required else {"anyOf": [many, {"type": "null"}]}

    return {
        "type": "object",
        "additionalProperties": False,
        "required": [f.name for f in fields if f.required],
        "properties": {f.name: {"description": f.question, **answer(f)} for f in fields} | {YEAR: year_schema(net)},
    }


class Batcher:
    """Requests that arrive together are encoded and predicted as one batch, off the event loop: under load the
    fixed cost of a prediction (pandas, the network's call) is paid once for every request waiting, not once
    each, while /health and new requests are still answered. One batch is predicted at a time (a large one in a
    worker thread, a small one on the loop: see INLINE_ROWS); the requests that arrive meanwhile form the next one. A batch holds at most `most` answer sets
    (a request is never split: MAX_BATCH bounds one)."""

    def __init__(self, predict, most: int = MAX_BATCH):
        self.predict = predict  # list of answer dicts -> list of answers
        self.most = most
        self.pending: list[tuple[list[dict], asyncio.Future]] = []
        self.draining = False
        self.task: asyncio.Task | None = None
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="salarynet-predict")

    async def __call__(self, rows: list[dict]) -> list[dict]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((rows, future))
        if not self.draining:
            self.draining = True
            # Two turns of the loop: requests parsed in this turn reach the batcher in the next one.
            loop.call_soon(loop.call_soon, self._start)
        return await future

    def _start(self) -> None:
        self.task = asyncio.ensure_future(self._drain())  # kept: the loop holds only weak references to tasks

    async def _drain(self) -> None:
        try:
            while self.pending:
                size = len(self.pending[0][0])
                count = 1
                while count < len(self.pending) and size + len(self.pending[count][0]) <= self.most:
                    size += len(self.pending[count][0])
                    count += 1
                batch, self.pending = self.pending[:count], self.pending[count:]
                await self._run(batch)
        finally:
            self.draining = False

    async def _run(self, batch: list[tuple[list[dict], asyncio.Future]]) -> None:
        loop = asyncio.get_running_loop()
        rows = [r for rows, _ in batch for r in rows]
        try:
            if len(rows) <= INLINE_ROWS:  # a few milliseconds: a thread's hand-over and the GIL would cost more
                answers = self.predict(rows)
            else:
                answers = await loop.run_in_executor(self.worker, self.predict, rows)
        except Exception as e:  # noqa: BLE001 - every waiting request gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
            return
        start = 0
        for rows, future in batch:
            if not future.done():  # a client that went away cancelled its wait
                future.set_result(answers[start : start + len(rows)])
            start += len(rows)


def _described(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


PREDICT_OK = 'One answer, or {"predictions": [...]} for a list (responses.py)'
PREDICT_RESPONSES = {
    413: _described(
        f"Over {MAX_BODY:,} bytes, or over {MAX_BATCH:,} answer sets",
        {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}},
    ),
    422: _described(
        "Not JSON, or answers that fail their checks (the first few, and how many more)",
        {
            "type": "object",
            "required": ["detail"],
            "properties": {
                "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
                "omitted": {"type": "integer"},
            },
        },
    ),
}


# One answer set comes with its explanation (explain.py: a batch of a few hundred predictions, ~80 ms on this
# machine); clients that want throughput say explain=false. A list never carries explanations.
EXPLAIN_PARAMETER = {
    "name": "explain",
    "in": "query",
    "required": False,
    "description": "One answer set: add its explanation (reasons and what would change it)",
    "schema": {"type": "string", "enum": ["true", "false"], "default": "true"},
}


class Script(Response):
    media_type = "text/javascript"  # for the response and, through response_class, for the OpenAPI schema


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


async def _body(request: Request) -> bytes | None:
    """The request body, or None past MAX_BODY bytes (by its Content-Length or as it streams in)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


# A JSON string, escapes and all, or an unclosed one to the end: a match never fails once begun, so the scan
# stays linear (a failing pattern retried at each escaped quote would be quadratic).
_STRING = re.compile(rb'"[^"\\]*(?:\\.?[^"\\]*)*(?:"|\Z)', re.DOTALL)
_STEP = np.zeros(256, np.int64)  # byte -> the change of nesting depth it makes outside strings
_STEP[list(b"[{")], _STEP[list(b"]}")] = 1, -1


def _depth(body: bytes) -> int:
    """How deep the arrays and objects of a UTF-8 JSON text nest, counted without parsing it: json.loads, and
    everything after it, recurse once a level (no byte of a multi-byte UTF-8 character is a bracket or quote)."""
    return int(np.cumsum(_STEP[np.frombuffer(_STRING.sub(b"", body), np.uint8)]).max(initial=0))


# json.loads's hooks for numbers: it reads NaN, Infinity and 1e999 (inf), which no JSON encoder writes back,
# and would turn a long enough integer into a ValueError that names the interpreter's settings.
def _refuse(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{_clip(text)} is too large a number")
    return value


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        raise ValueError(f"a number of {digits:,} digits")
    return int(text)


def _parse(body: bytes) -> Any:
    """The body as JSON: UTF-8, at most MAX_DEPTH deep, numbers finite and short (ValueError if not)."""
    # Decoded here, not by json.loads: it would also read UTF-16, whose bytes _depth cannot count.
    text = body.decode("utf-8-sig")  # a UnicodeDecodeError is a ValueError
    if _depth(body) > MAX_DEPTH:
        raise ValueError(f"it nests over {MAX_DEPTH} levels deep")
    return json.loads(text, parse_constant=_refuse, parse_float=_finite, parse_int=_integer)


def _echo(value: Any) -> Any:
    """A sent value as a 422 shows it: short numbers as they are, anything else as text of at most ECHO characters."""
    if value is None or isinstance(value, int | float) and len(str(value)) <= ECHO:
        return value
    return _clip(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _invalid(errors: list[tuple[dict, int | None]], fields: dict[str, Field]) -> JSONResponse:
    """The 422 for answer sets that fail their checks: the first errors, as many as fit in ERROR_BYTES."""
    shown, size = [], 0
    for err, index in errors[:MAX_ERRORS]:
        detail = _detail(err, index, fields)
        size += len(json.dumps(detail))
        if size > ERROR_BYTES:
            break
        shown.append(detail)
    omitted = {"omitted": len(errors) - len(shown)} if len(errors) > len(shown) else {}
    return JSONResponse({"detail": shown, **omitted}, status_code=422)


def _provenance(data: dict[str, Any]) -> dict[str, Any]:
    """What /model shows of the run's data.json: no path of this machine (the file by its name, a URL origin)."""
    shown = {k: v for k, v in data.items() if k in PROVENANCE}
    if "file" in shown:
        shown["file"] = " + ".join(Path(f).name for f in str(shown["file"]).split(" + "))
    if urlparse(str(shown.get("origin", ""))).scheme not in ("http", "https"):
        shown.pop("origin", None)  # an import's origin names the file it was imported from
    if isinstance(data.get("parts"), list):
        shown["parts"] = [_provenance(p) for p in data["parts"] if isinstance(p, dict)]
    return shown


def _description(net: SalaryNet, run: str) -> dict[str, Any]:
    """GET /model: the run, its recipe and task, the answers it reads, its metrics, data and survey years."""
    years = net.learned_years()
    return {
        "run": run,
        "recipe": net.recipe_.name,
        **net.task_.describe(),
        "fields": [f.to_json() for f in net.fields_],
        "metrics": net.record_.get("test", {}),
        "rows": net.record_.get("rows", {}),
        "data": _provenance(net.data_),
        "years": {
            "learned": years,
            "default": years[-1],
            "any_year": not net.task_.classes,  # a range model carries its answer to any year of the index
            "index": list(index_years()),
            "index_about": "US Employment Cost Index, wages and salaries, civilian workers (BLS)",
        },
    }


def create_app(run_path: str | Path) -> FastAPI:
    """The app for one run folder; the run is loaded and its checksums verified here (ArtifactError if not)."""
    net = load(run_path)
    # The event loop takes the GIL back from a large batch's worker thread within 1 ms, not Python's 5 ms: a request
    # needs it many times, and /health waited up to 90 ms behind a 1,000-row batch at 5 ms (serve_load.py).
    sys.setswitchinterval(0.001)
    task = net.task_
    fields = net.fields_
    by_name = {f.name: f for f in fields}
    answers = answers_model(fields, net)
    description = _description(net, Path(run_path).name)

    def predict(rows: list[dict]) -> list[dict]:
        """Answer sets (with their YEAR) -> answers, in order: one prediction table per year asked."""
        out: list[dict] = [{}] * len(rows)
        for year in dict.fromkeys(r.get(YEAR) for r in rows):
            at = [i for i, r in enumerate(rows) if r.get(YEAR) == year]
            frame = pd.DataFrame([rows[i] for i in at], columns=list(by_name), dtype=object)
            survey = tidy_survey(frame, "request")
            flags = net.flags(survey)
            result = net.predict_frame(survey, None, flags, year)  # the network in numpy: nothing compiles per batch
            for i, row, found in zip(at, result.to_dict("records"), flags):
                out[i] = task.answer(row) | {"year": int(row["year"]), "flags": [f.to_json() for f in found]}
        return out

    def explained(row: dict) -> dict:
        survey = tidy_survey(pd.DataFrame([row], columns=list(by_name), dtype=object), "request")
        return explain(net, net.at_year(survey.frame, net.dollars_year(row.get(YEAR))[1]), net.raw)

    example = {f.name: f.allowed[0] if f.required else None for f in fields}
    predict([example])  # a first answer and explanation before the first request: every import done
    explained(example)
    batcher = Batcher(predict)
    # No /docs or /redoc: their pages load scripts from a CDN. /openapi.json stays (clients, Schemathesis).
    app = FastAPI(
        title="salarynet",
        description=f"Predictions of the run {Path(run_path).name} ({net.recipe_.name})",
        docs_url=None,
        redoc_url=None,
    )

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "run": description["run"]}

    @app.get("/model")
    def describe() -> dict[str, Any]:
        return description

    one = answers_schema(fields, net)
    request_schema = {"oneOf": [one, {"type": "array", "items": one, "maxItems": MAX_BATCH}]}

    @app.post(
        "/predict",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": request_schema}}},
            "parameters": [EXPLAIN_PARAMETER],
        },
        responses=PREDICT_RESPONSES | {200: _described(PREDICT_OK, answer_schema(task.name))},
    )
    async def predict_endpoint(request: Request) -> Response:
        wanted = request.query_params.get("explain", "true")
        if wanted not in ("true", "false"):
            return _error(422, f"explain={_clip(wanted)!r}: expected true or false")
        try:
            body = await _body(request)
        except ClientDisconnect:  # the client went away mid-body: no one to answer, nothing to log but the request
            return Response(status_code=400)
        if body is None:
            return _error(413, f"the body is over {MAX_BODY:,} bytes")
        try:
            payload = _parse(body)
        except (ValueError, RecursionError) as e:  # RecursionError: json.loads's own guard, behind _depth's
            return _error(
                422, f"cannot read the body ({_clip(str(e))}): send one answer set as a JSON object, or a list of them"
            )
        many = isinstance(payload, list)
        if many and len(payload) > MAX_BATCH:
            return _error(413, f"{len(payload):,} answer sets; at most {MAX_BATCH:,} in one request")
        rows, errors = [], []
        for i, item in enumerate(payload if many else [payload]):
            at = i if many else None
            refused: list[Refusal] = []
            if isinstance(item, dict):  # any survey header, any case; answers the model does not read: dropped
                named = canonical_names(item, [YEAR], by_name, refused)
                item = {k: v for k, v in named.items() if k in by_name or k == YEAR}
            errors += [({"loc": (e.field,), "msg": str(e), "type": e.kind, "input": e.field}, at) for e in refused]
            try:
                rows.append(answers.model_validate(item).model_dump())
            except ValidationError as e:
                errors += [(err, at) for err in e.errors(include_url=False)]
        if errors:
            return _invalid(errors, by_name)
        result = await batcher(rows) if rows else []
        if many:  # a list gets its predictions only: each explanation is a batch of a hundred more
            return JSONResponse({"predictions": result})
        if wanted == "false":
            return JSONResponse(result[0])
        return JSONResponse(result[0] | {"explanation": await run_in_threadpool(explained, rows[0])})

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return (STATIC / "index.html").read_text()

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(FAVICON, media_type="image/svg+xml", headers={"cache-control": "max-age=86400"})

    @app.get("/app.js", response_class=Script)
    def script() -> Script:
        return Script((STATIC / "app.js").read_text())

    return app


RUN_VARIABLE = "SALARYNET_SERVE_RUN"


def app_from_environment() -> FastAPI:
    """The app factory uvicorn's worker processes call: each loads the run named by $SALARYNET_SERVE_RUN."""
    return create_app(os.environ[RUN_VARIABLE])


def _detail(err: dict, index: int | None, fields: dict[str, Field]) -> dict[str, Any]:
    """A pydantic error as the 422 body lists it: where, what was sent, why, and the allowed answers."""
    loc = [_clip(str(p)) for p in err["loc"]]  # a key sent is a loc: it may be long or a lone surrogate
    name = loc[0] if loc else ""
    out: dict[str, Any] = {
        "loc": ["body", *([index] if index is not None else []), *loc],
        "field": name,
        "msg": err["msg"],
        "type": err["type"],
    }
    if err["type"] != "missing":
        out["input"] = _echo(err.get("input"))
    if name in fields and fields[name].kind != "text":
        out["allowed"] = list(fields[name].allowed[:SHOWN])
    return out
