"""A model's prediction half: answers -> encoded inputs -> the network in numpy -> the blend and the conformal
correction -> the answer. It imports no JAX, pandas or scikit-learn, a [blend]'s TF-IDF included, so that one
person's answer from a saved run costs a fraction of a second: SalaryNet (estimator.py) is a Predictor that also
trains, evaluates and saves.

    net = load_predictor("runs/tutorial")
    row = net.predict_one(person({"age": "25-34", "experience_overall": "5-7 years", ...})[0])
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import artifacts, conformal, features, linear, reasons
from .answerset import Field, Refusal, fields_of, refusals
from .data.answers import TIDIED, tidy
from .data.table import Answers
from .errors import ArtifactError, NotFittedError
from .features import Frame
from .fitted import FittedModel
from .nn import forward
from .nn.losses import loss_function
from .nn.metrics import class_probabilities
from .nn.spec import Inputs, flatten
from .reasons import Flag
from .tasks import Task
from .years import Years


@dataclass
class Answered:
    """Rows answered (Predictor.answer). why: object[rows], each row's refusal or reason as a record, None where
    it was answered (ok: bool[rows]); for the answered rows, in order: finished (the network's outputs with the
    blend and the calibration), outputs (class probabilities, or log salary: estimate, low, high) and decoded
    (task.decode: probability, prediction, band; or salary, low, high in `year`'s dollars)."""

    why: np.ndarray
    ok: np.ndarray
    finished: np.ndarray
    outputs: np.ndarray
    decoded: dict[str, np.ndarray]
    year: int


class Predictor:
    """A fitted model's prediction half, over a fitted.FittedModel (model_): recipe_, features_ (the learned
    preprocessing), spec_ and params_ (the network), linear_ (a [blend] model or None), conformal_ (a
    [conformal] calibration or None), data_ (where its rows came from) and path_ (a loaded run's folder) are
    that model's parts."""

    def __init__(self, model: FittedModel | None = None):
        if model is not None:  # unfitted, it has no attribute ending in "_" (scikit-learn's check_is_fitted)
            self.model_ = model

    def _check_fitted(self) -> "Predictor":
        if getattr(self, "model_", None) is None:
            raise NotFittedError("this SalaryNet is not fitted yet: call fit(frame) first, or salarynet.load(RUN)")
        return self

    def _fitted(self) -> FittedModel:
        return self._check_fitted().model_

    recipe_ = property(lambda self: self._fitted().recipe, doc="The resolved recipe.")
    features_ = property(lambda self: self._fitted().features, doc="The learned preprocessing.")
    spec_ = property(lambda self: self._fitted().spec, doc="The network's shapes.")
    params_ = property(lambda self: self._fitted().params, doc="The network's weights.")
    linear_ = property(lambda self: self._fitted().blend, doc="The [blend] logistic regression, or None.")
    conformal_ = property(lambda self: self._fitted().conformal, doc="The [conformal] calibration, or None.")
    data_ = property(lambda self: self._fitted().data, doc="Where its rows came from (data.json).")
    path_ = property(lambda self: self._fitted().path, doc="The run folder it was loaded from, else None.")

    @property
    def fields_(self) -> list[Field]:
        """The answers the model reads, which it requires, and the answers each accepts (answerset.py)."""
        state = self._check_fitted().features_
        cached = getattr(self, "_fields", None)
        if cached is None or cached[0] is not state:
            self._fields = cached = (state, fields_of(state))
        return cached[1]

    def refusals(self, frame: Frame) -> list[Refusal | None]:
        """Per row (canonical names, tidied): why the model cannot answer it (answerset.py's contract), or None."""
        return refusals(self.fields_, frame)

    def answerable(self, frame: Frame, source: str = "input") -> tuple[Inputs, np.ndarray]:
        """(the rows encoded, why each cannot be answered: object[rows] of records, None where it can): the
        answer-set contract's Refusal (answerset.py), else the encoding's Reason (reasons.py). Decided here once;
        worded (str()) where it is shown."""
        x, reason = self.encode(frame, source)
        why = np.array(self.refusals(frame), dtype=object)
        return x, np.where(reasons.unset(why), reason, why)

    @property
    def task_(self) -> Task:
        return self._fitted().task

    def encode(self, frame: Frame, source: str = "input") -> tuple[Inputs, np.ndarray]:
        """Rows -> (inputs, reason object[rows]: a Reason, None where the row could be encoded). A survey year the
        model did not learn is read as the latest one it learned before it (a 2025 file's rows as 2023's)."""
        return features.encode(self._check_fitted().features_, self.years_.as_learned(frame), source)

    # -------------------------------------------------------- survey years and the year's dollars (years.py)

    @property
    def years_(self) -> Years:
        """The survey years it learned, and how it answers for a year (years.Years)."""
        return self._fitted().years

    def learned_years(self) -> list[int]:
        """The survey years the model learned from (years.Years.of_model)."""
        return list(self.years_.learned)

    def dollars_year(self, year: int | None = None) -> tuple[int, int]:
        """(the year whose dollars an answer is in, the survey year the model answers at): years.Years.dollars."""
        return self.years_.dollars(year)

    def at_year(self, frame: Frame, base: int) -> Frame:
        """The rows as the model reads them for an answer made at survey year `base`."""
        return self.years_.at(frame, base)

    def carried(self, decoded: dict[str, Any], asked: int, base: int) -> dict[str, Any]:
        """Decoded answers moved from base's dollars to asked's by the wage index (a range model's salaries)."""
        return self.years_.carried(decoded, asked, base)

    def raw(self, x: Inputs, bags: forward.Bags | None = None) -> np.ndarray:
        """The network's outputs on encoded rows, in numpy (nn/forward.py): nothing to import or compile.
        bags: the rows' text_bags(), where the caller has them (they do not change when other answers do)."""
        return forward.apply(self.spec_, self._weights(), x, bags)

    def text_bags(self, x: Inputs) -> forward.Bags:
        return forward.text_bags(self.spec_, self._weights(), x)

    def _weights(self) -> Any:
        host = getattr(self, "_host", None)
        if host is None or host[0] is not self.params_:  # weights fresh from training live in JAX arrays
            self._host = host = (self.params_, _on_host(self.params_))
        return host[1]

    def finish(self, raw: np.ndarray, frame: Frame | None, linear_shares: np.ndarray | None = None) -> np.ndarray:
        """The network's outputs on the frame's rows, finished: averaged with the [blend] model's probabilities
        (where the frame, or the sum of its questions' linear.parts, is given), or the range corrected by the
        [conformal] calibration (without a frame, a Mondrian calibration's overall correction)."""
        if frame is not None:
            frame = self.years_.as_learned(frame)  # the survey year as encode reads it
        if self.linear_ is not None and (frame is not None or linear_shares is not None):
            p = (
                linear.probabilities(self.linear_, frame)
                if linear_shares is None
                else linear.from_scores(self.linear_, linear_shares)
            )
            raw = linear.blend(class_probabilities(raw, self.spec_.activations[-1]), p, self.linear_.weight)
        if self.conformal_ is not None:
            raw = conformal.apply(self.conformal_, raw, frame, self.features_.spread)
        return raw

    def outputs(
        self,
        x: Inputs,
        frame: Frame | None = None,
        linear_shares: np.ndarray | None = None,
        bags: forward.Bags | None = None,
    ) -> np.ndarray:
        """Encoded rows -> class probabilities, or log salary (estimate, low, high), blended with the [blend]
        model where the rows' frame (or the sum of its questions' linear.parts) is given; bags: see raw()."""
        return self.task_.outputs(self.finish(self.raw(x, bags), frame, linear_shares), self.spec_.activations[-1])

    def metrics_of(
        self, raw: np.ndarray, labels: np.ndarray, salary: np.ndarray, majority_class: int | None = None
    ) -> dict[str, Any]:
        """Every metric of the task from the (finished) network's outputs on rows with these labels and salaries:
        the recipe's loss, and accuracy/AUC or dollars and coverage."""
        task = self.task_
        if majority_class is None:
            majority_class = int(self._fitted().record.get("baseline", {}).get("majority_class", 0))
        quantiles = tuple(self.recipe_.features.quantiles)
        loss = float(
            np.mean(loss_function(self.recipe_.compile.loss, quantiles)(task.targets(labels, self.spec_.answers), raw))
        )
        return {"loss": loss} | task.metrics(raw, labels, salary, self.spec_.activations[-1], majority_class)

    def answer(self, frame: Frame, year: int | None = None, network: Any = None, source: str = "input") -> "Answered":
        """THE prediction: rows of answers (canonical names, tidied) -> Answered, every row answered at the
        learned survey year for `year` (default: the latest it learned) and in `year`'s dollars. A row the model
        cannot answer is left out of the outputs, its reason kept as a record. network: encoded rows -> the
        network's outputs (default: the network in numpy, raw)."""
        asked, base = self.dollars_year(year)
        rows = self.at_year(frame, base)
        x, why = self.answerable(rows, source)
        ok = reasons.unset(why)
        if ok.all():
            finished = self.finish((network or self.raw)(x), rows)
        elif ok.any():
            finished = self.finish(
                (network or self.raw)(x.take(ok)), rows[ok]
            )  # a DataFrame: one person is all or none
        else:
            finished = np.zeros((0, self.spec_.answers))
        activation = self.spec_.activations[-1]
        decoded = self.task_.decode(finished if len(finished) else np.ones((1, self.spec_.answers)), activation)
        decoded = self.carried({k: v[: len(finished)] for k, v in decoded.items()}, asked, base)
        return Answered(why, ok, finished, self.task_.outputs(finished, activation), decoded, asked)

    def scored(
        self,
        frame: Frame,
        labels: np.ndarray,
        salary: np.ndarray,
        majority_class: int | None = None,
        x: Inputs | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """THE evaluation: selected rows (each at its own survey year) with their labels and salaries ->
        (outputs: class probabilities or log salary, float[rows, outputs]; every metric of the task on them).
        x: the rows already encoded, where the caller has them (not encoded twice)."""
        if x is None:
            x, _ = self.encode(frame)
        finished = self.finish(self.raw(x), frame)
        return (
            self.task_.outputs(finished, self.spec_.activations[-1]),
            self.metrics_of(finished, labels, salary, majority_class),
        )

    def predict_one(self, person: Answers, year: int | None = None) -> dict[str, Any]:
        """One row of tidied answers -> the predictions table's row as a dict (probability, prediction, band or
        salary/low/high, the year whose dollars it is in, and reason: '' or why it could not be encoded), as
        predict_frame gives it. year: see dollars_year."""
        answered = self.answer(person, year)
        if not answered.ok[0]:
            return {"year": answered.year, "reason": str(answered.why[0])}
        return {name: values[0] for name, values in answered.decoded.items()} | {"year": answered.year, "reason": ""}

    def summary(self, print_fn: Any = print) -> None:
        """Print what Keras's model.summary() prints: each layer, its output shape and parameters, the total
        (the weights in model.safetensors), what is beside the network, and the answers it reads."""
        print_fn(summary_text(self._check_fitted()))

    def flags_one(self, person: Answers, given: Answers) -> list[Flag]:
        """What the model made of one person's answers (features.flags), `given` their answers before tidying."""
        return features.flags(self.features_, person, given)[0]


def summary_rows(net: Predictor) -> list[tuple[str, str, int]]:
    """(layer (type), output shape, parameters) of the network, Keras's summary's rows; the parameters are the
    tensors model.safetensors holds, each counted once."""
    spec, state = net.spec_, net.features_
    sizes = {name: int(np.prod(np.shape(v))) for name, v in flatten(net._weights()).items()}
    numeric = [c.column for c in state.columns if c.encoding in ("ordinal", "multi")]
    rows = [(f"numeric ({', '.join(numeric) or 'none'}) (Input)", f"(None, {spec.in_size})", 0)]
    for i, (column, (_, width)) in enumerate(zip([c.column for c in state.categories], spec.embeddings)):
        rows.append((f"{column} (Embedding)", f"(None, {width})", sizes[f"embed.{i}"]))
    if spec.text:
        rows.append(
            (f"{' + '.join(state.text.columns)} (n-gram bag, TF-IDF)", f"(None, {spec.text[1]})", sizes["text"])
        )
    if len(rows) > 1:
        rows.append(("concatenate (Concatenate)", f"(None, {spec.first_width})", 0))
    for i, (units, activation) in enumerate(zip(spec.units, spec.activations)):
        weights = sizes[f"dense.{i}.kernel"] + sizes[f"dense.{i}.bias"]
        rows.append((f"dense{f'_{i}' if i else ''} (Dense, {activation})", f"(None, {units})", weights))
    if spec.wide:
        wide = sum(n for name, n in sizes.items() if name.startswith("wide."))
        rows.append(("wide (every input, linear, added to the last layer)", f"(None, {spec.units[-1]})", wide))
    if spec.collapse is not None:
        rows.append((f"answer (bands summed below / from band {spec.collapse})", "(None, 2)", 0))
    if sum(n for *_, n in rows) != sum(sizes.values()):  # every tensor in exactly one row
        raise ArtifactError(f"{net.path_ or 'this model'}: its weights do not fit its layers; train the run again")
    return rows


def summary_text(net: Predictor) -> str:
    """What Keras's model.summary() prints (layers, output shapes, parameter counts), then what is beside the
    network and the inputs it reads (answerset.py: required, and how many answers each accepts)."""
    rows = summary_rows(net)
    total = sum(n for *_, n in rows)
    width = max(len(r[0]) for r in rows) + 2
    rule = "─" * (width + 16 + 14)
    task = net.task_
    lines = [
        f'Model: "{net.recipe_.name}" ({task.name}: {task.explained_name.removeprefix("the ")})',
        rule,
        f"{'Layer (type)':<{width}}{'Output Shape':<16}{'Param #':>14}",
        rule,
        *(f"{name:<{width}}{shape:<16}{n:>14,}" for name, shape, n in rows),
        rule,
        f" Total params: {total:,} ({_bytes(total * 4)}, float32: model.safetensors)",
        f" Trainable params: {total:,}",
        " Non-trainable params: 0",
    ]
    if net.linear_ is not None:
        coefficients = int(np.size(net.linear_.coef)) + int(np.size(net.linear_.intercept))
        lines.append(
            f" Beside it: a logistic regression ({coefficients:,} coefficients, linear.json), "
            f"its probabilities averaged in at weight {net.linear_.weight:g}"
        )
    if net.conformal_ is not None:
        lines.append(" Beside it: a conformal correction of the range (conformal.json)")
    lines += [rule, "Inputs (the answers it reads; `salarynet answers RUN` lists the answers each accepts):"]
    for f in net.fields_:
        accepts = "any text" if f.kind == "text" else f"{len(f.allowed)} answers"
        kind = {"choice": "one of", "multi": "any of", "text": "text"}[f.kind]
        lines.append(f"  {f.name:<20}{'required' if f.required else 'may be blank':<14}{kind:<8}{accepts}")
    return "\n".join(lines)


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n} B"


def person(answers: dict[str, str | None]) -> tuple[Answers, Answers]:
    """One person's answers under canonical names -> (tidied as a file's are, the tidied ones as given)."""
    cleaned = {name: (value.strip() or None) if isinstance(value, str) else value for name, value in answers.items()}
    given = Answers.one({c: cleaned[c] for c in TIDIED if c in cleaned})
    return Answers.one({name: tidy(name, value) for name, value in cleaned.items()}), given


def _on_host(params: Any) -> Any:
    if isinstance(params, dict):
        return {k: _on_host(v) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [_on_host(v) for v in params]
    return np.asarray(params)


def load_predictor(path: str | Path) -> Predictor:
    """A saved run folder, checked (artifacts.load_run), as a Predictor."""
    return Predictor(artifacts.load_run(Path(path)))
