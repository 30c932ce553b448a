"""What POST /predict answers, as pydantic models: the OpenAPI schema describes every field of an answer (one
model a task); the tests hold the server's answers to it (Schemathesis checks every response against it)."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FlagOut(_Out):
    """What the model made of an answer that is not plain (reasons.Flag)."""

    field: str
    kind: Literal["unknown", "unknown_words", "no_known_words", "resolved"]
    answer: str = Field(description="The answer as it was given (for a multi-select question, the options left out)")
    message: str


class ReasonOut(_Out):
    """One answer's effect against the commonest answer to its question."""

    field: str
    answer: str
    typical: str = Field(description="The commonest answer among the training rows, or 'no answer'")
    effect: float = Field(description="The change it makes: probability points as a fraction, or dollars")
    effect_text: str


class ChangeOut(_Out):
    """The single change of an answer that moves the answer to the other side of the threshold, or band."""

    field: str
    from_: str | None = Field(alias="from")
    to: str
    outcome: str
    value: float


class ExplanationOut(_Out):
    sentence: str
    reasons: list[ReasonOut]
    counterfactual: ChangeOut | None
    counterfactual_sentence: str


class _Answer(_Out):
    year: int = Field(description="The year whose dollars the answer is in")
    flags: list[FlagOut]
    explanation: ExplanationOut | None = Field(None, description="One answer set, unless ?explain=false")


class BinaryAnswer(_Answer):
    probability: float = Field(ge=0, le=1, description="P(salary above the threshold)")
    class_: Literal[0, 1] = Field(alias="class", description="1: above the threshold")
    answer: str


class BandsAnswer(_Answer):
    probability: float = Field(ge=0, le=1, description="The likeliest band's probability")
    class_: int = Field(alias="class", ge=0, description="The likeliest band's index")
    band: str


class RangeAnswer(_Answer):
    salary: float = Field(description="The estimate, in the year's dollars")
    low: float = Field(description="The 80% range's low end")
    high: float = Field(description="The 80% range's high end")


ANSWERS: dict[str, type[_Answer]] = {"binary": BinaryAnswer, "bands": BandsAnswer, "regression": RangeAnswer}


def answer_schema(task: str) -> dict[str, Any]:
    """POST /predict's 200 response for a task's model: one answer, or {"predictions": [...]} for a list (a JSON
    schema with its definitions inlined)."""
    one = ANSWERS[task].model_json_schema(by_alias=True)
    definitions = one.pop("$defs", {})

    def inlined(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inlined(definitions[node["$ref"].rsplit("/", 1)[1]])
            return {k: inlined(v) for k, v in node.items()}
        return [inlined(v) for v in node] if isinstance(node, list) else node

    one = inlined(one)
    many = {
        "type": "object",
        "required": ["predictions"],
        "properties": {"predictions": {"type": "array", "items": one}},
        "additionalProperties": False,
    }
    return {"oneOf": [one, many]}
