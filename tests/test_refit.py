"""fit.refit: measure on held-out rows, then fit again on every kept row for the epochs the held-out fit chose,
and save that model with the held-out model's outputs on the test rows (AutoGluon's refit_full)."""

import json

import numpy as np
import pytest
from conftest import SNAPSHOT

from salarynet import artifacts
from salarynet.data.source import provenance
from salarynet.errors import ArtifactError
from salarynet.estimator import HELDOUT_ROWS, SalaryNet, load
from salarynet.fitted import FittedModel
from salarynet.fitting import fit_data, fit_spec, model_spec, prepare
from salarynet.nn import train as nn_train
from salarynet.rows import select_rows

# The tutorial's network on its four answers, quick: early stopping picks the epoch the refit runs for.
QUICK = {"fit__epochs": 6, "fit__batch_size": 64, "fit__early_stopping": 2, "fit__refit": True}


@pytest.fixture(scope="module")
def refitted(snapshot):
    return SalaryNet("tutorial", **QUICK).fit(snapshot, provenance=provenance(snapshot, "file", SNAPSHOT))


def test_the_refit_learns_from_every_kept_row_for_the_chosen_epochs(refitted):
    refit, record = refitted.record_["refit"], refitted.record_
    assert refit["rows"] == refitted.rows_["kept"] == refitted.rows_["train"] + refitted.rows_["test"]
    assert refit["epochs"] == record["kept_epoch"] <= record["epochs_run"]
    # The test metrics are the held-out model's: its saved outputs on the test rows give them back exactly.
    rows = refitted.heldout_["rows"]
    assert len(rows) == refitted.rows_["test"] and (np.diff(rows) > 0).all()


def test_the_refit_is_a_fit_from_scratch_on_every_row(snapshot, refitted):
    epochs = refitted.record_["refit"]["epochs"]
    plain = SalaryNet("tutorial", fit__epochs=epochs, fit__batch_size=64, fit__validation_split=0.0)
    sel = select_rows(snapshot, plain.resolved_recipe())
    every = prepare(sel, plain.resolved_recipe(), snapshot.path, split=(np.arange(len(sel.labels)), np.arange(0)))
    recipe = plain.resolved_recipe()
    spec = model_spec(recipe, every.state)
    params, _ = nn_train.fit(fit_spec(recipe, spec), recipe.seed, fit_data(every, spec, recipe), epochs)
    plain = FittedModel(recipe, every.state, spec, params)
    for a, b in zip(plain.params["dense"], refitted.params_["dense"]):
        assert np.array_equal(a["kernel"], b["kernel"]) and np.array_equal(a["bias"], b["bias"])
    assert plain.features.to_json() == refitted.features_.to_json()  # min-max over every kept row


def test_a_refitted_run_evaluates_its_test_rows_with_the_held_out_outputs(refitted, snapshot, tmp_path):
    folder = refitted.save(tmp_path / "run")
    assert (folder / artifacts.HELDOUT).is_file()
    assert "refit" in json.loads((folder / "metrics.json").read_text())
    net = load(folder)
    result = net.evaluation(snapshot, provenance(snapshot, "file", SNAPSHOT))
    assert result["rows_used"] == HELDOUT_ROWS and result["test"] == refitted.metrics_
    other = net.evaluate(snapshot.frame.head(3000))  # another file: the saved (refitted) model itself
    assert other["rows"] > 0 and other != refitted.metrics_


def test_without_refit_nothing_changes(trained, run_dir):
    assert "refit" not in trained.record_ and getattr(trained, "heldout_", None) is None
    assert not (run_dir / artifacts.HELDOUT).exists()


@pytest.mark.parametrize("damage", [b"not safetensors", "wrong shape"])
def test_a_damaged_held_out_file_is_one_error(refitted, tmp_path, damage):
    folder = refitted.save(tmp_path / "run")
    if damage == "wrong shape":
        damage = artifacts.heldout_bytes({"rows": np.arange(3), "outputs": np.zeros((3, 5))})
    (folder / artifacts.HELDOUT).write_bytes(damage)
    with pytest.raises(ArtifactError, match=r"heldout\.safetensors: checksum differs") as e:
        load(folder)
    assert "\n" not in str(e.value)


def test_the_report_and_model_card_say_the_model_was_refitted(refitted, tmp_path):
    from typer.testing import CliRunner

    from salarynet.apps.cli import app

    folder = refitted.save(tmp_path / "run")
    result = CliRunner().invoke(app, ["report", str(folder), "--data", str(SNAPSHOT)])
    assert result.exit_code == 0, result.output
    numbers = json.loads((folder / "report.json").read_text())
    assert numbers["rows_used"] == HELDOUT_ROWS and numbers["test"] == refitted.metrics_
    card = (folder / "report.md").read_text()
    assert f"refitted on all {refitted.rows_['kept']:,} kept rows" in card and "never saw" in card
    assert "refitted on all" in (folder / "report.html").read_text()
