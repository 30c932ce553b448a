"""One person's answer, explained: which of their answers move it most, and the smallest change among the answers
a person can change that would move it across the threshold (or to the next band).

Reasons replace one answer at a time by the training rows' commonest answer to that question (the job title by no
title) and predict again, all in one batch through the whole model (network, blend and corrections): an effect is
what the answer changes against a typical respondent's, in the units people read (points of probability, or
dollars). This is occlusion, not a gradient: the answers are categories, and a gradient of an embedding index
means nothing; it costs one prediction per question. Effects of answers that interact do not add up exactly to
the difference from an all-typical person, which the sentence does not claim.

Counterfactuals try every single change of a changeable answer (education, experience in the field, job title,
industry, state, city; age, gender, race and country stay locked) among the answers the model learned (titles:
the commonest ones of its training rows, each given by 5 or more people), and keep the smallest: the fewest
experience bands moved (another title: the most words shared), then the commonest answer."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data.answers import band_order
from .data.table import Answers
from .features import Frame, answer_keys, known_words, options, text_of
from .predictor import Predictor

CHANGEABLE = ("education", "experience_field", "job_title", "industry", "state", "city")
LOCKED = ("age", "gender", "race", "country")
STEPPED = ("experience_field", "experience_overall", "age")  # answers in bands: a change costs its steps
MOST_CANDIDATES = 60  # per question, the commonest answers (cities: hundreds)


@dataclass
class Reason:
    field: str
    answer: str
    typical: str
    effect: float  # on task.explained(): probability or dollars

    def to_json(self, text: str) -> dict[str, Any]:
        return {
            "field": self.field,
            "answer": self.answer,
            "typical": self.typical,
            "effect": round(self.effect, 6),
            "effect_text": text,
        }


def _name(field: str) -> str:
    return {
        "experience_field": "experience in the field",
        "experience_overall": "overall experience",
        "job_title": "job title",
    }.get(field, field.replace("_", " "))


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ", ".join(value) if isinstance(value, list) else ""


def _questions(net: Predictor) -> list[tuple[str, list[str], list[str | None]]]:
    """(question, the frame columns it sets, its answers the model learned, the typical one first) per input
    question; the job title's typical answer is no title, then come the commonest training titles."""
    found = []
    for col in net.features_.columns:
        if col.column == "survey_year":  # not an answer: the year the answer is made for
            continue
        keys = sorted(col.codes, key=col.codes.get)  # categories from 1, options from 0: commonest first
        if col.encoding == "ordinal":  # codes in the form's order: the commonest is kept apart (else the middle one)
            first = col.common if col.common in col.codes else keys[len(keys) // 2]
            answers: list[str | None] = [first] + [k for k in keys if k != first]
        else:
            answers = [None if k == "(blank)" else col.label(k) for k in keys]
        found.append((col.column, [col.column], answers))
    if net.features_.text:  # typical: no title; the alternatives a counterfactual tries: the commonest titles
        found.append(
            (net.features_.text.columns[0], list(net.features_.text.columns), [None, *net.features_.text.titles])
        )
    return found


Raw = Callable[[Any], np.ndarray]  # encoded rows -> the network's outputs (Predictor.raw)


def _outputs(net: Predictor, frame: Answers, raw: Raw) -> np.ndarray:
    x, _ = net.encode(frame)
    return net.task_.outputs(net.finish(raw(x), frame), net.spec_.activations[-1])


def explain(net: Predictor, person: Frame, raw: Raw | None = None) -> dict[str, Any]:
    """person: tidied answers under canonical names (as predict_frame reads them; its first row is explained);
    raw: how the network runs (default: Predictor.raw, numpy, which compiles nothing). ->
    {sentence, reasons: [...], counterfactual: {...} or None, counterfactual_sentence}. One batch: the person,
    each answer made typical, and each counterfactual candidate."""
    task, raw = net.task_, raw or net.raw
    questions = _questions(net)
    person = {c: next(iter(person[c]), None) for c in person.columns}  # the first row, as plain values
    person |= {c: None for _, columns, _ in questions for c in columns if c not in person}
    reasons, changes, unexplained = [], [{}], []
    text = net.features_.text
    multi = {c.column: c.codes for c in net.features_.columns if c.encoding == "multi"}
    for field, columns, answers in questions:
        given, typical = _text(person[columns[0]]), answers[0]
        if field in multi:  # the options it learned: one it did not is left out of the inputs, so of the reasons
            folded, written = options(given), options(given, fold=False)
            written = written if len(written) == len(folded) else folded
            given = ", ".join(w for o, w in zip(folded, written) if o in multi[field])
        if not given or (typical is not None and _key(given) == _key(typical)):
            continue  # no answer (or none it reads), or the typical one: nothing to compare
        if (
            text is not None
            and field == text.columns[0]
            and not known_words(text, text_of(Answers.one(person), columns)[0])
        ):
            unexplained.append(given)  # letter pieces of unknown words: an effect, but not one of the title's meaning
            continue
        changes.append({c: typical if c == columns[0] else None for c in columns})
        reasons.append(Reason(field, given, typical or "no answer", 0.0))
    candidates = _candidates(person, questions, net.features_.text.columns[0] if net.features_.text else None)
    outputs = _outputs(net, _variants(person, changes + [{c[2]: c[4]} for c in candidates]), raw)
    values = task.explained(outputs)
    for reason, value in zip(reasons, values[1 : len(changes)]):
        reason.effect = float(values[0] - value)
    reasons.sort(key=lambda r: -abs(r.effect))
    sentence = _sentence(task, reasons, float(values[0]))
    if unexplained:
        sentence += f" Your job title ({unexplained[0]}) is not among the reasons: the model knows none of its words."
    return {
        "sentence": sentence,
        "reasons": [r.to_json(task.effect_text(r.effect)) for r in reasons],
        **_counterfactual(task, questions, candidates, outputs[[0]], outputs[len(changes) :]),
    }


def _key(answer: str) -> str:
    return answer_keys([answer])[0]


def _variants(person: dict[str, Any], changes: list[dict[str, Any]]) -> Answers:
    """The person once per change, each with its answers changed."""
    columns = {c: [value] * len(changes) for c, value in person.items()}
    for i, change in enumerate(changes):
        for column, value in change.items():
            columns[column][i] = value
    return Answers(columns, rows=len(changes))


def _sentence(task: Any, reasons: list[Reason], value: float) -> str:
    named = [r for r in reasons if not task.small_effect(r.effect, value)][:3]  # reasons come largest first
    if not named:
        return f"None of your answers moves {task.explained_name} much from the commonest answers."
    parts = [
        f"your {_name(r.field)} ({r.answer}) {'raises' if r.effect > 0 else 'lowers'} "
        f"{'it' if i else task.explained_name}{' most' if i == 0 and len(named) > 1 else ''} "
        f"({task.effect_text(r.effect)})"
        for i, r in enumerate(named)
    ]
    return "Against the commonest answers, " + "; ".join(parts) + "."


def _listed(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def _candidates(
    person: dict[str, Any], questions: list, text_column: str | None
) -> list[tuple[float, int, str, str, str]]:
    """(cost in steps, rank by how common, question, answer now, answer instead) for every single change of a
    changeable answer among the answers the model learned: a band counts its steps, another title 1-2 by the
    words it does not share, any other answer 1."""
    candidates = []
    for field, _, answers in questions:
        if field not in CHANGEABLE:
            continue
        given = _text(person[field])
        given_key = _key(given) if given else None
        choices = [a for a in answers if a is not None and _key(a) != given_key]
        choices = choices if field == text_column else choices[:MOST_CANDIDATES]  # every title it keeps (200)
        ordered = band_order(choices + ([given] if given else [])) if field in STEPPED else None
        for rank, answer in enumerate(choices):
            if ordered and given in ordered:
                steps = float(abs(ordered.index(answer) - ordered.index(given)))
            elif field == text_column:  # another title: the fewer words it shares with theirs, the larger the change
                steps = 2.0 - _shared_words(given, answer)
            else:
                steps = 1.0
            candidates.append((steps, rank, field, given, answer))
    return candidates


def _shared_words(a: str, b: str) -> float:
    """The Jaccard index of two titles' words (0: none shared, 1: the same words)."""
    x, y = (set(re.findall(r"[a-z0-9]+", t.casefold())) for t in (a, b))
    return len(x & y) / len(x | y) if x | y else 0.0


def _counterfactual(
    task: Any, questions: list, candidates: list, base: np.ndarray, outputs: np.ndarray
) -> dict[str, Any]:
    goal = task.target(int(task.outcome(base)[0]))
    changeable = _listed([_name(f) for f, _, _ in questions if f in CHANGEABLE])
    reached = np.flatnonzero(task.outcome(outputs) == goal) if len(candidates) else []
    if not len(reached):
        return {
            "counterfactual": None,
            "counterfactual_sentence": f"No single change of your {changeable or 'answers'} moves the answer to "
            f"{task.outcome_text(goal)}.",
        }
    best = min(reached, key=lambda i: candidates[i][:2])  # the fewest steps, then the commonest answer
    _, _, field, given, answer = candidates[best]
    value = float(task.explained(outputs[[best]])[0])
    return {
        "counterfactual": {
            "field": field,
            "from": given or None,
            "to": answer,
            "outcome": task.outcome_text(goal),
            "value": round(value, 6),
        },
        "counterfactual_sentence": f"With {_name(field)} {answer!r} instead of {given or 'no answer'!r}, "
        f"the answer would be {task.outcome_text(goal)} ({task.explained_name}: {task.value_text(value)}).",
    }
