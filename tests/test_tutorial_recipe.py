"""The full tutorial recipe, 100 epochs at batch size 5, through the command line (about 10 s)."""

import json

from conftest import SNAPSHOT
from typer.testing import CliRunner

from salarynet.apps.cli import app


def test_full_tutorial_recipe_reaches_the_majority_baseline(tmp_path):
    result = CliRunner().invoke(app, ["train", "--data", str(SNAPSHOT), "--out", str(tmp_path / "tutorial")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "tutorial" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= metrics["baseline"]["majority_accuracy"]
    history = (tmp_path / "tutorial" / "history.csv").read_text().splitlines()
    assert len(history) == 101
    first, last = (float(line.split(",")[1]) for line in (history[1], history[-1]))
    assert last < first  # the training loss fell over the 100 epochs
