"""A saved run behind HTTP: FastAPI's JSON API and a one-page form.

GET /health, GET /model (task, fields with their allowed answers, metrics, provenance), POST /predict
(one answer set, or a list of at most MAX_BATCH), GET / (the page). The run is loaded and checked once,
when the app is made; requests that arrive together are predicted together in one compiled call.
"""

import asyncio
import functools
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import jax
import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import AfterValidator, ConfigDict, StringConstraints, ValidationError, create_model
from pydantic_core import PydanticCustomError

from . import artifacts, model, pipeline
from .answers import band_order
from .data import tidy_answers
from .features import options
from .schemas import CHOICE_COLUMNS, COLUMNS, normalise

MAX_BATCH = 1000  # answer sets in one POST /predict
MAX_BODY = 1 << 20  # bytes; a list of MAX_BATCH long answer sets fits
MAX_TEXT = 1000  # characters in one free-text answer
WARM_SIZES = (1, 2, 4, 8, 16, 32, 64)  # batches compiled at start; larger ones compile on first use
STATIC = resources.files("salarynet") / "static"


@dataclass(frozen=True)
class Field:
    """One answer the model reads. kind: 'choice' (one of `allowed`), 'multi' (any of `allowed`,
    comma-separated or a list) or 'text' (anything; `allowed` lists the answers the model learned)."""

    name: str
    question: str
    kind: str
    allowed: tuple[str, ...]
    required: bool
    keys: dict[str, str]  # folded answer -> its spelling in `allowed`

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "question": self.question, "kind": self.kind, "required": self.required,
                "allowed": list(self.allowed)}


def fields_of(run: artifacts.Run) -> list[Field]:
    out = []
    for col in run.features.columns:
        question = COLUMNS.get(col.column, col.column)
        # folded answer -> as shown: the recipe's spelling (ordinal) or the survey's commonest (learned keys)
        keys = {normalise(k): k if col.encoding == "ordinal" else col.label(k) for k in col.codes if k != "(blank)"}
        allowed = tuple(band_order(list(keys.values())))
        if col.encoding == "ordinal":
            out.append(Field(col.column, question, "choice", allowed, True, keys))
        elif col.encoding == "multi":
            out.append(Field(col.column, question, "multi" if col.column in CHOICE_COLUMNS else "text", allowed,
                             False, keys))
        elif col.column in CHOICE_COLUMNS:
            out.append(Field(col.column, question, "choice", allowed, "(blank)" not in col.codes, keys))
        else:
            out.append(Field(col.column, question, "text", allowed, False, keys))
    for column in run.features.text.columns if run.features.text else ():
        out.append(Field(column, COLUMNS.get(column, column), "text", (), False, {}))
    return out


def _listing(allowed: tuple[str, ...]) -> str:
    return ", ".join(allowed[:60]) + (f", ... ({len(allowed)} in all)" if len(allowed) > 60 else "")


def _validator(f: Field):
    def check(value):
        if value is None or (isinstance(value, str) and not value.strip()):
            if f.required:
                raise PydanticCustomError("missing", "a {field} answer is required; one of: {allowed}",
                                          {"field": f.name, "allowed": _listing(f.allowed)})
            return None
        if f.kind == "text":
            return value
        given = value if isinstance(value, list) else options(value, fold=False) if f.kind == "multi" else [value]
        picked = []
        for v in given:
            spelled = f.keys.get(normalise(v))
            if spelled is None:
                raise PydanticCustomError("not_allowed", "{value} is not one of: {allowed}",
                                          {"value": repr(v), "allowed": _listing(f.allowed)})
            picked.append(spelled)
        return ", ".join(picked)
    return check


def answers_model(fields: list[Field]):
    """The pydantic model of one answer set: unknown keys refused, each answer checked against the run's own."""
    text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
    specs = {}
    for f in fields:
        kind = text | list[text] if f.kind == "multi" else text
        specs[f.name] = (Annotated[kind | None, AfterValidator(_validator(f))], ... if f.required else None)
    return create_model("Answers", __config__=ConfigDict(extra="forbid"), **specs)


def compiled_outputs(run: artifacts.Run):
    """Inputs -> outputs through one jitted network, the rows padded to a power of two (one compile per size)."""
    apply = jax.jit(functools.partial(model.apply, run.spec))
    params = jax.device_put(run.params)

    def outputs(x: model.Inputs) -> np.ndarray:
        n = x.numeric.shape[0]
        size = 1 << max(n - 1, 0).bit_length()
        padded = jax.tree.map(lambda a: np.concatenate([a, np.zeros((size - n, *a.shape[1:]), a.dtype)]), x)
        return np.asarray(apply(params, padded))[:n]
    return outputs


def answer_of(run: artifacts.Run, row: dict[str, Any]) -> dict[str, Any]:
    state = run.features
    if state.task == "regression":
        return {"salary": float(row["salary"]), "low": float(row["low"]), "high": float(row["high"])}
    out = {"probability": round(float(row["probability"]), 6), "class": int(row["prediction"])}
    if state.task == "bands":
        out["band"] = row["band"]
    else:
        out["answer"] = f"{'above' if out['class'] == 1 else 'at or below'} ${state.threshold:,.0f}"
    return out


class Batcher:
    """Requests that arrive together are encoded and predicted as one batch: under load the fixed cost
    of a prediction (pandas, the compiled call) is paid once for every request waiting, not once each."""

    def __init__(self, predict):
        self.predict = predict  # list of answer dicts -> list of answers
        self.pending: list[tuple[list[dict], asyncio.Future]] = []

    async def __call__(self, rows: list[dict]) -> list[dict]:
        future = asyncio.get_running_loop().create_future()
        if not self.pending:
            # Two turns of the loop: requests parsed in this turn reach the batcher in the next one.
            loop = asyncio.get_running_loop()
            loop.call_soon(loop.call_soon, self._flush)
        self.pending.append((rows, future))
        return await future

    def _flush(self) -> None:
        pending, self.pending = self.pending, []
        try:
            answers = self.predict([r for rows, _ in pending for r in rows])
        except Exception as e:  # noqa: BLE001 - every waiting request gets the error
            for _, future in pending:
                future.set_exception(e)
            return
        start = 0
        for rows, future in pending:
            future.set_result(answers[start:start + len(rows)])
            start += len(rows)


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


def create_app(run_path: str | Path) -> FastAPI:
    """The app for one run folder; the run is loaded and its checksums verified here (ArtifactError if not)."""
    run = artifacts.load_run(Path(run_path))
    fields = fields_of(run)
    by_name = {f.name: f for f in fields}
    answers = answers_model(fields)
    outputs = compiled_outputs(run)
    description = {
        "run": Path(run_path).name, "recipe": run.recipe.name, "task": run.features.task,
        "threshold": run.features.threshold if run.features.task == "binary" else None,
        "bands": pipeline.band_names(run.features.bands) if run.features.task == "bands" else None,
        "fields": [f.to_json() for f in fields], "metrics": run.metrics.get("test", {}),
        "rows": run.metrics.get("rows", {}), "data": run.data,
    }

    def predict(rows: list[dict]) -> list[dict]:
        frame = tidy_answers(pd.DataFrame(rows, columns=list(by_name), dtype=object))
        result = pipeline.predict_frame(run, frame, "request", outputs)
        return [answer_of(run, row) for row in result.to_dict("records")]

    example = {f.name: f.allowed[0] if f.required else None for f in fields}
    for size in WARM_SIZES:  # compile the batch sizes that load brings before the first request
        predict([example] * size)
    batcher = Batcher(predict)
    app = FastAPI(title="salarynet", description=f"Predictions of the run {Path(run_path).name} ({run.recipe.name})")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "run": description["run"]}

    @app.get("/model")
    def describe() -> dict[str, Any]:
        return description

    @app.post("/predict", openapi_extra={"requestBody": {"content": {"application/json": {"schema": {
        "oneOf": [answers.model_json_schema(), {"type": "array", "items": answers.model_json_schema(),
                                                "maxItems": MAX_BATCH}]}}}}})
    async def predict_endpoint(request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return _error(413, f"the body is over {MAX_BODY:,} bytes")
        try:
            payload = json.loads(body)
        except ValueError:
            return _error(422, "the body is not JSON: send one answer set as an object, or a list of them")
        many = isinstance(payload, list)
        if many and len(payload) > MAX_BATCH:
            return _error(413, f"{len(payload):,} answer sets; at most {MAX_BATCH:,} in one request")
        rows, errors = [], []
        for i, item in enumerate(payload if many else [payload]):
            try:
                rows.append(answers.model_validate(item).model_dump())
            except ValidationError as e:
                errors += [_detail(err, i if many else None, by_name) for err in e.errors(include_url=False)]
        if errors:
            return JSONResponse({"detail": errors}, status_code=422)
        result = await batcher(rows) if rows else []
        return JSONResponse({"predictions": result} if many else result[0])

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return (STATIC / "index.html").read_text()

    @app.get("/app.js")
    def script() -> Response:
        return Response((STATIC / "app.js").read_text(), media_type="text/javascript")

    return app


RUN_VARIABLE = "SALARYNET_SERVE_RUN"


def app_from_environment() -> FastAPI:
    """The app factory uvicorn's worker processes call: each loads the run named by $SALARYNET_SERVE_RUN."""
    return create_app(os.environ[RUN_VARIABLE])


def _detail(err: dict, index: int | None, fields: dict[str, Field]) -> dict[str, Any]:
    """A pydantic error as the 422 body lists it: where, what was sent, why, and the allowed answers."""
    loc = [str(p) for p in err["loc"]]
    name = loc[0] if loc else ""
    out: dict[str, Any] = {"loc": ["body", *([index] if index is not None else []), *loc], "field": name,
                           "msg": err["msg"], "type": err["type"]}
    if err["type"] != "missing":
        out["input"] = err.get("input")
    elif name in fields:
        out["msg"] = f"the answer {name!r} is missing"
    if err["type"] == "extra_forbidden":
        out["msg"] = f"{name!r} is not an answer this model reads; it reads: {', '.join(fields)}"
    if name in fields and fields[name].kind != "text":
        out["allowed"] = list(fields[name].allowed)
    return out
