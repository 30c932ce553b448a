"""salarynet report: one self-contained HTML file (plots embedded) and a Markdown model card for a run.

Everything is computed from the saved model on the run's evaluation rows (its own test rows when the
survey is its training file): metrics with 95% bootstrap intervals, ROC/PR, calibration, the confusion
matrix or predicted-vs-true salaries, results per gender, age band and race, permutation importance.
The fairness numbers judge one decision for every task: "salary above the threshold" ($100,000).
"""

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score

from .. import features, plots
from ..data.answers import band_order
from ..data.survey import Survey
from ..estimator import HELDOUT_ROWS, NEW_FILE_ROWS, SalaryNet
from ..tasks import Task
from . import compare

GROUPS = ("gender", "age", "race")  # the attributes a reader checks a salary model against
MIN_GROUP = 30  # rows a group needs to enter the parity differences
BOOTSTRAP = 1000
CAVEATS = [
    "The survey is self-selected: Ask A Manager's readers, mostly women, mostly white, mostly in the United "
    "States and in office work. Groups that answered rarely (non-binary people, most races, most countries) "
    "have few rows, and their numbers are uncertain.",
    "Salaries are self-reported and not checked; a few answers were typed in thousands or per hour "
    "(the recipe's min/max salary rule excludes the implausible ones).",
    "Other currencies are converted to US dollars at the annual average exchange rates of each row's survey "
    "year (Federal Reserve G.5A), which ignores the cost of living.",
    "Answers in another year's dollars are carried there by one national wage index (the US Employment Cost "
    "Index for wages and salaries, December values): it knows how US pay moved on average, not how it moved "
    "for one occupation, industry, place or currency, nor anything after its last year. A binary or bands "
    "model answers only for the survey years it learned.",
    "Gender and race are answers like any other to the model unless the recipe sets "
    "features.exclude_protected; a group's lower predicted salary reproduces a pay gap in the answers, it "
    "does not explain it.",
]


@dataclass
class Result:
    numbers: dict[str, Any]  # everything the report shows, as JSON
    images: dict[str, bytes]  # name -> PNG


def _group_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Each row's group: the answer as given, '(blank)' for none; race: the option, or 'two or more'."""
    values = []
    for answer in frame[column]:
        text = answer.strip() if isinstance(answer, str) else ""
        if column == "race":
            chosen = features.options(text, fold=False)
            text = chosen[0] if len(chosen) == 1 else "two or more" if chosen else ""
        values.append(text or "(blank)")
    return np.array(values, dtype=object)


def group_table(
    groups: np.ndarray, predicted: np.ndarray, truth: np.ndarray, correct: np.ndarray, width: np.ndarray | None = None
) -> list[dict]:
    """Per group: accuracy (a range: the share inside its range, and the median range width in dollars), and
    the decision's selection, true and false positive rates."""
    rows = []
    for g in band_order([str(v) for v in pd.Series(groups).value_counts().index]):  # age bands in order, else by size
        m = groups == g
        pos, neg = truth[m], ~truth[m]
        share = (
            {"accuracy": float(correct[m].mean())}
            if width is None
            else {"coverage": float(correct[m].mean()), "median_width": float(np.median(width[m]))}
        )
        rows.append(
            {"group": str(g), "count": int(m.sum())}
            | share
            | {
                "selection_rate": float(predicted[m].mean()),
                "tpr": float(predicted[m][pos].mean()) if pos.any() else None,
                "fpr": float(predicted[m][neg].mean()) if neg.any() else None,
                "base_rate": float(truth[m].mean()),
            }
        )
    return rows


def parity(rows: list[dict]) -> dict[str, Any]:
    """Demographic-parity difference (selection rates) and equalized-odds difference (the larger of the
    TPR and FPR spreads), over the groups with at least MIN_GROUP rows, as fairlearn defines them."""
    big = [r for r in rows if r["count"] >= MIN_GROUP]

    def spread(key):
        values = [r[key] for r in big if r[key] is not None]
        return float(max(values) - min(values)) if len(values) > 1 else 0.0

    return {
        "groups_compared": [r["group"] for r in big],
        "demographic_parity_difference": spread("selection_rate"),
        "equalized_odds_difference": max(spread("tpr"), spread("fpr")),
    }


def bootstrap(
    task: Task, labels: np.ndarray, salary: np.ndarray, outputs: np.ndarray, seed: int = 0
) -> dict[str, list[float]]:
    """95% percentile intervals of the headline metrics over BOOTSTRAP resamples of the evaluation rows."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    draws: dict[str, list[float]] = {}
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, n, n)
        for k, v in task.resample(outputs[i], labels[i], salary[i]).items():
            draws.setdefault(k, []).append(float(v))
    return {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for k, v in draws.items()}


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return float(
        sum(
            abs(correct[which == b].mean() - confidence[which == b].mean()) * np.mean(which == b)
            for b in range(bins)
            if np.any(which == b)
        )
    )


def analyse(net: SalaryNet, survey: Survey, provenance: dict[str, Any], importance_repeats: int = 2) -> Result:
    ev, x, outputs, test = net.evaluation_outputs(survey, provenance)
    task = net.task_
    majority = int(net.record_.get("baseline", {}).get("majority_class", 0))
    images: dict[str, bytes] = {}
    numbers: dict[str, Any] = {
        "test": test,
        "rows_used": ev.rows_used,
        "evaluated_rows": int(len(ev.labels)),
        "intervals": bootstrap(task, ev.labels, ev.salary, outputs),
        "refit": net.record_.get("refit"),
    }
    curves = Path(net.path_) / "curves.png"  # drawn by train from the whole history
    if curves.is_file():
        images["curves"] = curves.read_bytes()
    correct = task.hits(outputs, ev.labels, ev.salary)
    if task.classes:
        images.update(_class_plots(task, outputs, ev.labels, correct, test, numbers))
    else:
        estimate, low, high = (np.exp(outputs[:, j]) for j in range(3))
        images["predicted_vs_true"] = plots.predicted_vs_true_png(ev.salary, estimate, low, high, test["coverage"])
    predicted, truth, decision = task.decision(outputs, ev.salary)
    numbers["decision"] = decision
    numbers["groups"], numbers["parity"], numbers["missing_groups"] = {}, {}, []
    for column in GROUPS:
        if column not in ev.frame.columns or ev.frame[column].isna().all():
            numbers["missing_groups"].append(column)
            continue
        width = None if task.classes else np.exp(outputs[:, 2]) - np.exp(outputs[:, 1])
        table = group_table(_group_values(ev.frame, column), predicted, truth, correct, width)
        numbers["groups"][column] = table
        numbers["parity"][column] = parity(table)
    if numbers["groups"]:
        images["groups"] = plots.groups_png(numbers["groups"], decision)
    numbers["importance"] = compare.permutation_importance(
        net, x, ev.labels, ev.salary, majority, repeats=importance_repeats, frame=ev.frame
    )
    numbers["importance_measure"] = task.importance_measure
    if numbers["refit"] and ev.rows_used != NEW_FILE_ROWS:  # the saved model saw these rows
        numbers["importance_measure"] += " (the saved, refitted model on rows it trained on)"
    images["importance"] = plots.importance_png(numbers["importance"], numbers["importance_measure"])
    return Result(numbers, images)


def _class_plots(
    task: Task,
    outputs: np.ndarray,
    labels: np.ndarray,
    correct: np.ndarray,
    test: dict[str, Any],
    numbers: dict[str, Any],
) -> dict[str, bytes]:
    """Confusion matrix, calibration, and ROC/PR where there is one positive class (numbers gets their values)."""
    names = task.class_names()
    pred = np.argmax(outputs, axis=1)
    matrix = np.asarray(
        pd.crosstab(pd.Categorical(labels, range(len(names))), pd.Categorical(pred, range(len(names))), dropna=False)
    )
    images = {"confusion": plots.confusion_png(matrix, names)}
    confidence, hit, what, short = task.confidence(outputs, labels)
    confidence = np.clip(confidence, 0, 1)
    observed, predicted = calibration_curve(hit, confidence, n_bins=10, strategy="uniform")
    counts = np.histogram(confidence, bins=np.linspace(0, 1, 11))[0]
    ece = expected_calibration_error(confidence, hit.astype(float))
    numbers["calibration"] = {"ece": ece, "bins": 10, "what": what}
    images["calibration"] = plots.calibration_png(predicted, observed, counts[counts > 0], ece, short)
    scores = task.scores(outputs)
    if scores is not None and 0 < labels.sum() < len(labels):
        numbers["average_precision"] = float(average_precision_score(labels, scores))
        images["roc_pr"] = plots.roc_pr_png(labels, scores, test["auc"], numbers["average_precision"])
    return images


# ---------------------------------------------------------------- writing


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4f}"
    return html.escape(str(value))


def _img(images: dict[str, bytes], name: str, alt: str) -> str:
    if name not in images:
        return ""
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(images[name]).decode()}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def _table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


GROUP_COLUMNS = ["group", "count", "accuracy", "selection_rate", "tpr", "fpr", "base_rate"]
RANGE_GROUP_COLUMNS = ["group", "count", "coverage", "median_width", "selection_rate", "tpr", "fpr", "base_rate"]


def _group_columns(table: list[dict]) -> list[str]:
    return RANGE_GROUP_COLUMNS if table and "coverage" in table[0] else GROUP_COLUMNS


def conformal_text(net: SalaryNet) -> str:
    """What a [conformal] run's ranges promise, and what they do not ("" for other runs)."""
    c = getattr(net, "conformal_", None)
    if c is None:
        return ""
    per = (
        f" within each {c.by} answer with {net.recipe_.conformal.min_rows}+ calibration rows (Mondrian; rarer "
        f"answers share the overall correction)"
        if c.by
        else ""
    )
    return (
        f"The {c.coverage:.0%} ranges are split-conformal (conformalized quantile regression): calibrated on "
        f"{c.rows:,} training rows set aside, they cover at least {c.coverage:.0%} of salaries{per}, on average "
        "over rows exchangeable with the survey's. That is a promise about this self-selected survey "
        "population, not about any one person, and not about other populations, years or currencies."
    )


def comparison(this: Result, other: Result, this_name: str, other_name: str) -> list[dict]:
    """Accuracy against fairness, this run beside another (e.g. with and without the protected answers)."""
    rows = []
    for name, r in ((this_name, this), (other_name, other)):
        row = {
            "run": name,
            "accuracy": r.numbers["test"].get("accuracy"),
            "auc": r.numbers["test"].get("auc"),
            "median_absolute_error": r.numbers["test"].get("median_absolute_error"),
        }
        for column, p in r.numbers["parity"].items():
            row[f"{column} DP diff"] = p["demographic_parity_difference"]
            row[f"{column} EO diff"] = p["equalized_odds_difference"]
        rows.append(row)
    return rows


def data_text(data: dict[str, Any]) -> str:
    """A run's data in one line: source, file(s), sha256, survey years, when it was read (where known)."""
    where = data.get("file") or data.get("url") or ""
    years = data.get("years") or []
    return ", ".join(
        part
        for part in (
            f"{data.get('source')} {where}".strip(),
            f"sha256 {str(data.get('sha256', ''))[:16]}…" if data.get("sha256") else "",
            f"survey years {', '.join(str(y) for y in years)}" if years else "",
            f"read {data['read_at']}" if data.get("read_at") else "",
        )
        if part
    )


def render_html(net: SalaryNet, result: Result, against: list[dict] | None = None) -> str:
    n = result.numbers
    test, intervals = n["test"], n["intervals"]
    headline = [
        {"metric": k, "value": test.get(k), "95% interval": f"{_fmt(v[0])} – {_fmt(v[1])}"}
        for k, v in intervals.items()
    ]
    rows = net.record_.get("rows", {})
    excluded = ", ".join(f"{k} {v:,}" for k, v in rows.get("excluded", {}).items()) or "none"
    parts = [
        f"<h1>salarynet report: {html.escape(Path(net.path_).name)}</h1>",
        f"<p class=sub>Recipe <b>{html.escape(net.recipe_.name)}</b>, task <b>{net.task_.name}</b>, seed "
        f"{net.recipe_.seed}. Evaluated on {html.escape(n['rows_used'])} ({n['evaluated_rows']:,} rows).</p>",
        "<h2>Data</h2>",
        f"<p>Source: {html.escape(data_text(net.data_))}."
        f" Rows read {rows.get('read', 0):,}, kept {rows.get('kept', 0):,}, excluded {excluded}; "
        f"train {rows.get('train', 0):,} (fit {rows.get('fit', 0):,}, validation {rows.get('validation', 0):,}), "
        f"test {rows.get('test', 0):,}.{_refit_text(n)}</p>",
        "<h2>Test metrics</h2>",
        _table(headline, ["metric", "value", "95% interval"]),
        f"<p>{html.escape(conformal_text(net))}</p>" if conformal_text(net) else "",
        f"<p class=note>Intervals: {BOOTSTRAP} bootstrap resamples of the evaluation rows (percentile).</p>",
        '<div class="grid">',
        _img(result.images, "curves", "training and validation curves"),
        _img(result.images, "roc_pr", "ROC and precision-recall curves"),
        _img(
            result.images,
            "calibration",
            f"calibration (expected calibration error {n.get('calibration', {}).get('ece', 0):.3f})",
        ),
        _img(result.images, "confusion", "confusion matrix"),
        _img(result.images, "predicted_vs_true", "predicted against true salary"),
        "</div>",
    ]
    parts += _groups_html(result, against)
    parts += [
        "<h2>Which answers matter</h2>",
        _img(result.images, "importance", "permutation importance"),
        "<h2>Recipe</h2>",
        f"<pre>{html.escape(json.dumps(net.recipe_.model_dump(mode='json'), indent=2))}</pre>",
        "<h2>Caveats</h2><ul>" + "".join(f"<li>{html.escape(c)}</li>" for c in CAVEATS) + "</ul>",
    ]
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>salarynet report: {html.escape(Path(net.path_).name)}"
        f"</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n"
    )


STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:0 auto;padding:1rem 1.5rem;color:#1f2933}"
    "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #cbd2d9;padding:.2rem .6rem;text-align:right}"
    "td:first-child,th:first-child{text-align:left}.sub,.note{color:#52606d}.grid{display:flex;flex-wrap:wrap;gap:1rem}"
    "figure{margin:0}img{max-width:100%;border:1px solid #e4e7eb}figcaption{color:#52606d;font-size:.85rem}"
    "pre{background:#f5f7fa;padding:.6rem;overflow:auto;font-size:.8rem;max-height:24rem}"
)


def _groups_html(result: Result, against: list[dict] | None) -> list[str]:
    """The report's groups section: rates and parity per protected question, and a run set beside it."""
    n = result.numbers
    parts = [
        f"<h2>Groups</h2><p>Decision judged: <b>{html.escape(n['decision'])}</b>. Selection rate: the share predicted "
        f"above; TPR/FPR: among those truly above / at or below. Parity differences use groups of {MIN_GROUP}+ rows.</p>",
    ]
    for column, table in n["groups"].items():
        p = n["parity"][column]
        parts.append(
            f"<h3>{column}</h3>"
            + _table(table, _group_columns(table))
            + f"<p>demographic-parity difference <b>{p['demographic_parity_difference']:.4f}</b>, "
            f"equalized-odds difference <b>{p['equalized_odds_difference']:.4f}</b></p>"
        )
    for column in n["missing_groups"]:
        parts.append(
            f"<h3>{column}</h3><p class=note>The data has no {column} answers: no {column} groups to report.</p>"
        )
    parts.append(_img(result.images, "groups", "selection, true and false positive rates per group"))
    if against:
        parts.append(
            "<h2>Against another run</h2>"
            + _table(against, list(against[0]))
            + "<p>The accuracy cost and the fairness change of one run against the other, on their own test rows.</p>"
        )
    return parts


def _refit_text(numbers: dict[str, Any]) -> str:
    refit = numbers.get("refit")
    if not refit:
        return ""
    rows = (
        f"all {refit['rows']:,} kept rows"
        if "calibration_rows" not in refit
        else f"{refit['rows']:,} kept rows (all but the {refit['calibration_rows']:,} conformal calibration rows)"
    )
    text = f" The saved model was then refitted on {rows} ({refit['epochs']} epochs, as the held-out fit chose)"
    if numbers["rows_used"] == HELDOUT_ROWS:
        return text + "; the test metrics are those of the model before the refit, on test rows it never saw."
    return text + "."


def render_card(net: SalaryNet, result: Result, against: list[dict] | None = None) -> str:
    n = result.numbers
    rows = net.record_.get("rows", {})
    lines = [
        f"# Model card: {Path(net.path_).name}",
        "",
        f"- **Model**: salarynet recipe `{net.recipe_.name}` ({net.task_.name}; "
        f"{' -> '.join(str(u) for u in net.spec_.units)} dense units), seed {net.recipe_.seed}.",
        f"- **Inputs**: {', '.join(c.column for c in net.features_.columns)}"
        f"{' + text: ' + ', '.join(net.features_.text.columns) if net.features_.text else ''}"
        f"{' (gender and race left out: features.exclude_protected)' if net.recipe_.features.exclude_protected else ''}.",
        "- **Intended use**: exploring what the Ask A Manager salary surveys say about pay; not decisions about "
        "people.",
        f"- **Data**: {data_text(net.data_)}; read {rows.get('read', 0):,}, kept {rows.get('kept', 0):,}, "
        f"excluded {json.dumps(rows.get('excluded', {}))}; test {rows.get('test', 0):,} rows.{_refit_text(n)}",
        "",
        f"## Test metrics ({n['rows_used']}, {n['evaluated_rows']:,} rows; 95% bootstrap intervals)",
        "",
        "| metric | value | 95% interval |",
        "|---|---:|---|",
    ]
    lines += [f"| {k} | {_fmt(n['test'].get(k))} | {_fmt(v[0])} – {_fmt(v[1])} |" for k, v in n["intervals"].items()]
    if "calibration" in n:
        lines += ["", f"Expected calibration error: {n['calibration']['ece']:.4f} (10 bins)."]
    if conformal := conformal_text(net):
        lines += ["", f"**Ranges.** {conformal}"]
    lines += ["", f"## Groups (decision: {n['decision']})", ""]
    for column, table in n["groups"].items():
        p = n["parity"][column]
        columns = _group_columns(table)
        lines += [f"### {column}", "", "| " + " | ".join(columns) + " |", "|---|" + "---:|" * (len(columns) - 1)]
        lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in table]
        lines += [
            "",
            f"Demographic-parity difference {p['demographic_parity_difference']:.4f}; equalized-odds difference "
            f"{p['equalized_odds_difference']:.4f} (groups of {MIN_GROUP}+ rows).",
            "",
        ]
    lines += [f"- The data has no {c} answers: no {c} groups." for c in n["missing_groups"]]
    if against:
        cols = list(against[0])
        lines += ["", "## Against another run", "", "| " + " | ".join(cols) + " |", "|---|" + "---:|" * (len(cols) - 1)]
        lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in against]
    lines += ["", f"## Which answers matter ({n['importance_measure']} when one is shuffled)", ""]
    lines += [f"- {k}: {_fmt(v)}" for k, v in n["importance"].items()]
    lines += ["", "## Caveats", ""] + [f"- {c}" for c in CAVEATS]
    return "\n".join(lines) + "\n"
