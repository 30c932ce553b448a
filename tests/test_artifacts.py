import json

import numpy as np
import pytest

from salarynet import artifacts
from salarynet.errors import ArtifactError
from salarynet.estimator import load


def test_round_trip_gives_identical_predictions(trained, prepared, run_dir):
    run = load(run_dir)
    for a, b in zip(run.params_["dense"], trained.params_["dense"]):
        assert np.array_equal(a["kernel"], b["kernel"]) and np.array_equal(a["bias"], b["bias"])
    assert run.spec_ == trained.spec_ and run.recipe_ == trained.recipe_
    again = run.metrics_of(run.finish(run.raw(prepared.x_test), None), prepared.y_test, prepared.salary_test, 0)
    assert again == trained.metrics_
    assert json.loads((run_dir / "metrics.json").read_text())["test"] == trained.metrics_


def test_run_folder_holds_everything_and_no_pickle(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert names == {
        "model.safetensors",
        "model.json",
        "preprocessing.json",
        "recipe.json",
        "data.json",
        "metrics.json",
        "history.csv",
        "curves.png",
    }
    assert (run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not any(p.suffix in (".pkl", ".pickle", ".npy") for p in run_dir.iterdir())
    history = (run_dir / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,loss,accuracy,val_loss,val_accuracy" and len(history) == 3


def copy_run(run_dir, tmp_path):
    import shutil

    return shutil.copytree(run_dir, tmp_path / "copy")


def test_tampered_weights_are_refused(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    raw = bytearray((run / "model.safetensors").read_bytes())
    raw[-3] ^= 0x55
    (run / "model.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match=r"model\.safetensors: checksum differs from model\.json"):
        artifacts.load_run(run)


def test_truncated_and_missing_files_are_refused(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    (run / "preprocessing.json").write_text('{"columns": [')
    with pytest.raises(ArtifactError, match=r"preprocessing\.json: checksum differs from model\.json"):
        artifacts.load_run(run)
    (run / "model.json").write_text("[]")
    with pytest.raises(ArtifactError, match=r"model\.json: not a salarynet-run/1 model description"):
        artifacts.load_run(run)
    for name in ("model.json", "preprocessing.json"):
        (run / name).write_bytes((run_dir / name).read_bytes())
    (run / "model.safetensors").unlink()
    with pytest.raises(ArtifactError, match=r"incomplete run, model\.safetensors is missing"):
        artifacts.load_run(run)
    with pytest.raises(ArtifactError, match=r"no such run folder"):
        artifacts.load_run(tmp_path / "nowhere")
    with pytest.raises(ArtifactError, match=r"not a salarynet run \(no model\.json\)"):
        artifacts.load_run(tmp_path)


def test_a_failed_write_leaves_nothing_half_written(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(TypeError):
        artifacts.write_run(run, {"model.json": b"{}", "metrics.json": None})
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]
    with pytest.raises(TypeError):
        artifacts.write_run(tmp_path / "fresh", {"a": b"x", "b": None})
    assert not (tmp_path / "fresh").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["copy"]


def test_a_changed_scaler_is_refused(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    state = json.loads((run / "preprocessing.json").read_text())
    state["max"][0] += 1
    (run / "preprocessing.json").write_text(json.dumps(state))
    with pytest.raises(ArtifactError, match=r"preprocessing\.json: checksum differs"):
        artifacts.load_run(run)


def test_a_folder_with_a_model_json_and_other_files_is_not_replaced(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "model.json").write_text("{}")
    (folder / "thesis.tex").write_text("keep me")
    with pytest.raises(ArtifactError, match=r"mine: exists and is not a salarynet run"):
        artifacts.write_run(folder, {"model.json": b"{}"})
    assert (folder / "thesis.tex").read_text() == "keep me"


def test_only_runs_are_replaced(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match=r"notes: exists and is not a salarynet run"):
        artifacts.write_run(tmp_path / "notes", {"model.json": b"{}"})
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    assert (artifacts.write_run(tmp_path / "empty", {"model.json": b"{}"}) / "model.json").is_file()
