"""salarynet report: numbers against metrics.json, images that decode, groups that add up, a browser's view."""

import base64
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SNAPSHOT, TUTORIAL
from matplotlib.image import imread
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from salarynet.apps import report
from salarynet.apps.cli import app
from salarynet.estimator import HELDOUT_ROWS
from salarynet.nn import metrics

runner = CliRunner()
ARTIFACTS = Path(os.environ.get("SALARYNET_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def images_of(page: str) -> list[np.ndarray]:
    return [
        imread(io.BytesIO(base64.b64decode(data)), format="png")
        for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    ]


@pytest.fixture(scope="module")
def reported(runs, tmp_path_factory):
    """Reports of the three recommended runs, each on its own test rows."""
    out = tmp_path_factory.mktemp("reports")
    for name in ("recommended", "recommended-bands", "recommended-range"):
        invoke("report", runs / name, "--data", SNAPSHOT, "--out", out / f"{name}.html")
    return out


@pytest.mark.parametrize("name", ["recommended", "recommended-bands", "recommended-range"])
def test_the_report_shows_the_runs_own_numbers(runs, reported, name):
    saved = json.loads((runs / name / "metrics.json").read_text())["test"]
    numbers = json.loads((reported / f"{name}.json").read_text())
    # The recommended recipes refit on every row: their test rows are answered by the model before the refit.
    assert numbers["rows_used"] == HELDOUT_ROWS and numbers["evaluated_rows"] == saved["rows"]
    for key, value in saved.items():
        if isinstance(value, float):
            assert numbers["test"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    for key, (low, high) in numbers["intervals"].items():
        assert low <= numbers["test"][key] <= high, key  # the 95% interval holds the estimate
    page = (reported / f"{name}.html").read_text()
    assert f"{saved['rows']:,} rows" in page
    pictures = images_of(page)
    # curves, ROC/PR, calibration, confusion, groups, importance; a range: curves, predicted vs true, groups, importance
    expected = {"recommended": 6, "recommended-bands": 5, "recommended-range": 4}[name]
    assert len(pictures) == expected and all(p.shape[0] > 100 and p.shape[1] > 100 for p in pictures)
    assert "<script" not in page and 'src="http' not in page and "<link" not in page  # opens offline: nothing fetched
    card = (reported / f"{name}.md").read_text()
    assert card.startswith("# Model card") and "## Caveats" in card and "self-selected" in card


@pytest.mark.parametrize("name", ["recommended", "recommended-bands", "recommended-range"])
def test_every_group_table_adds_up_to_the_test_rows(reported, name):
    numbers = json.loads((reported / f"{name}.json").read_text())
    assert set(numbers["groups"]) == {"gender", "age", "race"} and not numbers["missing_groups"]
    for column, table in numbers["groups"].items():
        assert sum(r["count"] for r in table) == numbers["evaluated_rows"], column
        p = numbers["parity"][column]
        big = [r for r in table if r["count"] >= report.MIN_GROUP]
        rates = [r["selection_rate"] for r in big]
        assert p["demographic_parity_difference"] == pytest.approx(max(rates) - min(rates))
    ages = [r["group"] for r in numbers["groups"]["age"]]
    assert ages.index("25-34") < ages.index("35-44") < ages.index("45-54")  # bands in order


def test_a_file_without_a_group_column_says_so(run_dir, tmp_path):
    result = invoke("report", run_dir, "--data", TUTORIAL, "--out", tmp_path / "r.html")
    numbers = json.loads((tmp_path / "r.json").read_text())
    assert numbers["rows_used"] == "every usable row of a new file" and "race" in numbers["missing_groups"]
    assert "The data has no race answers" in (tmp_path / "r.html").read_text()
    assert sum(r["count"] for r in numbers["groups"]["gender"]) == numbers["evaluated_rows"]
    assert "wrote" in result.output


def test_leaving_out_gender_and_race_shows_cost_and_gain(runs, tmp_path):
    blind = tmp_path / "blind"
    trained = invoke(
        "train",
        "--recipe",
        "recommended",
        "--data",
        SNAPSHOT,
        "--out",
        blind,
        "--set",
        "fit.epochs=3",
        "--set",
        "features.exclude_protected=true",
    )
    assert f"salarynet report {blind}" in trained.output  # train says where its report can be made
    columns = [c["column"] for c in json.loads((blind / "preprocessing.json").read_text())["columns"]]
    assert "gender" not in columns and "race" not in columns and "age" in columns
    invoke("report", blind, "--data", SNAPSHOT, "--against", runs / "recommended", "--out", tmp_path / "r.html")
    page, card = (tmp_path / "r.html").read_text(), (tmp_path / "r.md").read_text()
    assert "Against another run" in page and "gender DP diff" in page and "## Against another run" in card
    rows = re.findall(r"^\| (blind|recommended) \|", card, re.M)
    assert rows == ["blind", "recommended"]


def test_bootstrap_auc_and_parity_on_hand_made_numbers():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500), 1)  # many ties
    assert metrics.mann_whitney_auc(y, scores) == pytest.approx(roc_auc_score(y, scores))
    # a: 20 above (15 predicted above), 20 below (2 predicted above); b: 20 above (10), 20 below (8); c: 5 rows.
    truth = np.r_[np.ones(20), np.zeros(20), np.ones(20), np.zeros(20), np.ones(5)].astype(bool)
    predicted = np.r_[
        np.ones(15),
        np.zeros(5),
        np.ones(2),
        np.zeros(18),
        np.ones(10),
        np.zeros(10),
        np.ones(8),
        np.zeros(12),
        np.ones(5),
    ].astype(bool)
    rows = report.group_table(np.array(["a"] * 40 + ["b"] * 40 + ["c"] * 5), predicted, truth, predicted == truth)
    by = {r["group"]: r for r in rows}
    assert (by["a"]["tpr"], by["a"]["fpr"], by["b"]["tpr"], by["b"]["fpr"]) == (0.75, 0.1, 0.5, 0.4)
    p = report.parity(rows)
    assert p["groups_compared"] == ["a", "b"]  # "c" has 5 rows: too few to compare
    assert p["demographic_parity_difference"] == pytest.approx(18 / 40 - 17 / 40)
    assert p["equalized_odds_difference"] == pytest.approx(0.3)  # the FPR gap (0.3) is larger than the TPR gap (0.25)


def test_a_browser_shows_the_plots(reported):
    from test_browser import chromium_page

    with chromium_page(1200, 1600) as page:
        page.goto((reported / "recommended.html").as_uri())
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert len(widths) >= 5 and all(w > 300 for w in widths)
    assert imread(ARTIFACTS / "report.png").shape[0] > 2000


def test_by_default_the_report_goes_into_the_run_and_keeps_it_replaceable(run_dir, trained, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    invoke("report", copy)  # no --data: the run's own survey file
    assert (copy / "report.html").is_file() and (copy / "report.md").is_file()
    assert json.loads((copy / "report.json").read_text())["rows_used"] == "the run's test rows"
    trained.save(copy)  # training again into the folder replaces it: the report is salarynet's own
    assert not (copy / "report.html").exists()


def test_importance_shuffles_shares_as_a_whole_prediction_would(runs, snapshot):
    """Permutation importance shuffles the blend's per-question shares and the title's bags of n-grams rather
    than predicting from scratch: the drops are those of shuffling the answers and predicting again."""
    from salarynet import features
    from salarynet.apps import compare
    from salarynet.estimator import load

    net = load(runs / "recommended")
    ev = net.evaluation_rows(snapshot, {})
    frame, labels, salary = ev.frame.head(800), ev.labels[:800], ev.salary[:800]
    x, _ = net.encode(frame)
    fast = compare.permutation_importance(net, x, labels, salary, 0, repeats=1, seed=3, frame=frame)
    task, rng, texts = net.task_, np.random.default_rng(3), list(net.features_.text.columns)

    def score(out):
        return task.headline(task.fold_metrics(out, labels, salary, 0))

    base = score(net.outputs(x, frame))
    for name, part in features.question_parts(net.features_).items():
        order = rng.permutation(len(labels))
        columns = [c for c in (texts if part[0] == "text" else [name]) if c in frame]
        shuffled = frame.assign(**{c: frame[c].to_numpy()[order] for c in columns})
        again, _ = net.encode(shuffled)
        assert fast[name] == pytest.approx(base - score(net.outputs(again, shuffled)), abs=1e-9), name
