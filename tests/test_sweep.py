"""salarynet sweep: grids, Dask against a serial run, a killed worker, --resume, the command line."""

import json
import os
import signal
import threading
import time

import pytest
from conftest import SNAPSHOT
from typer.testing import CliRunner

from salarynet.apps import sweep
from salarynet.apps.cli import app
from salarynet.errors import DataError, RecipeError
from salarynet.recipe import load_recipe

runner = CliRunner()
SHORT = ["fit.epochs=2"]


def grid_file(tmp_path, text: str):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return path


LR_X_OPT = '[grid]\n"compile.learning_rate" = [0.01, 0.1]\n"compile.optimizer" = ["adagrad", "adam"]\n'


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=40,
        ) as c,
        Client(c) as client,
    ):
        yield c, client


def test_grid_files_are_checked_before_anything_runs(tmp_path):
    the_plan = sweep.plan("tutorial", grid_file(tmp_path, LR_X_OPT), 2, 1, "sha", SHORT)
    assert len(the_plan.trials) == 4 and the_plan.metric == "auc" and len({t.id for t in the_plan.trials}) == 4
    assert [len(g) for g in sweep.groups(the_plan.trials, batch=True)] == [2, 2]  # rates batched per optimizer
    assert [len(g) for g in sweep.groups(the_plan.trials, batch=False)] == [1, 1, 1, 1]
    drawn = sweep.plan(
        "tutorial", grid_file(tmp_path, LR_X_OPT + '[search]\nkind = "random"\ntrials = 3\n'), 2, 1, None
    )
    assert len(drawn.trials) == 3
    for text, pattern in [
        ("[grid]\n", "grid"),
        ('[grid]\n"fit.epochs" = []\n', "no values"),
        ('[grid]\n"fit.epochs" = [0]\n', "fit.epochs"),
        ('[grid]\n"fit.nope" = [1]\n', "fit.nope"),
        ("[grids]\n", "grids"),
        ("not toml", "not valid TOML"),
        ('[grid]\n"fit.epochs" = [1]\n[search]\nkind = "random"\n', "trials"),
    ]:
        with pytest.raises((DataError, RecipeError), match=pattern):
            sweep.plan("tutorial", grid_file(tmp_path, text), 2, 1, None)


def results_of(out):
    return {r["trial"]: r["runs"] for r in json.loads((out / "results.json").read_text())["results"]}


def same_results(a: dict, b: dict) -> bool:
    """The same trials, folds, seeds and epochs, and the same metrics to float rounding. Dask's nanny starts each
    worker with one BLAS thread (OPENBLAS_NUM_THREADS=1), this process has more: float32 products of the
    forward pass can then differ in the last bit, and the tutorial's four answers give many tied outputs, whose
    ties such a bit breaks (an AUC moves by about 1e-5)."""
    assert a.keys() == b.keys()
    for trial in a:
        assert len(a[trial]) == len(b[trial])
        for x, y in zip(a[trial], b[trial]):
            assert x.keys() == y.keys()
            for key in x:
                if isinstance(x[key], float):
                    assert x[key] == pytest.approx(y[key], rel=1e-6, abs=1e-4), (trial, key)
                else:
                    assert x[key] == y[key], (trial, key)
    return True


def test_dask_equals_a_serial_run_number_for_number(snapshot, tmp_path, cluster):
    c, _ = cluster
    the_plan = sweep.plan("tutorial", grid_file(tmp_path, LR_X_OPT), 2, 2, "sha", SHORT)
    on_dask = sweep.sweep(snapshot, the_plan, tmp_path / "dask", 2, 2, scheduler=c.scheduler_address)
    serial = sweep.sweep(snapshot, the_plan, tmp_path / "serial", 2, 2, serial=True)
    assert on_dask.ran == serial.ran == 4 and on_dask.workers == 2
    assert same_results(results_of(tmp_path / "dask"), results_of(tmp_path / "serial"))  # every fold, seed, metric
    runs = next(iter(results_of(tmp_path / "dask").values()))
    assert sorted((r["fold"], r["seed"]) for r in runs) == [
        (1, 42),
        (1, 43),
        (2, 42),
        (2, 43),
    ]  # folds counted from 1, as --fold K/N
    workers = {r["worker"] for r in json.loads((tmp_path / "dask" / "results.json").read_text())["results"]}
    assert workers <= set(c.scheduler_info["workers"])  # which worker ran each trial is recorded
    # Batched (rates and seeds in one vmapped call) against one by one: each step agrees to float32 rounding
    # (test_train), which 3,500 steps at batch size 5 amplify a little.
    alone = sweep.sweep(snapshot, the_plan, tmp_path / "alone", 2, 2, batch=False, serial=True)
    assert alone.ran == 4
    for trial, runs in results_of(tmp_path / "alone").items():
        for a, b in zip(runs, results_of(tmp_path / "serial")[trial]):
            assert (a["fold"], a["seed"]) == (b["fold"], b["seed"]) and a["auc"] == pytest.approx(b["auc"], abs=0.01)


def test_a_killed_worker_loses_no_trial(snapshot, tmp_path, cluster):
    c, client = cluster
    grid = grid_file(tmp_path, '[grid]\n"compile.optimizer" = ["adagrad", "adam", "sgd", "rmsprop"]\n')
    the_plan = sweep.plan("tutorial", grid, 2, 1, "sha", ["fit.epochs=6"])
    pids = client.run(os.getpid)
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.setdefault(
            "done", sweep.sweep(snapshot, the_plan, tmp_path / "out", 2, 1, scheduler=c.scheduler_address, batch=False)
        )
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    busy = next(w for w, tasks in client.processing().items() if tasks)
    os.kill(pids[busy], signal.SIGKILL)  # mid-task: the nanny restarts it, the scheduler reruns the task
    thread.join(300)
    assert outcome["done"].ran == 4 and len(list((tmp_path / "out" / "trials").glob("*.json"))) == 4
    serial = sweep.sweep(snapshot, the_plan, tmp_path / "serial", 2, 1, batch=False, serial=True)
    assert same_results(results_of(tmp_path / "out"), results_of(tmp_path / "serial"))
    assert serial.ran == 4


def test_resume_skips_finished_trials_and_a_stop_keeps_them(snapshot, tmp_path):
    the_plan = sweep.plan("tutorial", grid_file(tmp_path, LR_X_OPT), 2, 1, "sha", SHORT)
    out = tmp_path / "out"

    def stop_after_first(result, done, total):
        raise KeyboardInterrupt

    first = sweep.sweep(snapshot, the_plan, out, 2, 1, batch=False, serial=True, on_trial=stop_after_first)
    assert first.interrupted and first.ran == 1 and (out / "results.csv").is_file() and (out / "best.toml").is_file()
    [kept] = list((out / "trials").glob("*.json"))
    stamp = kept.stat().st_mtime_ns
    with pytest.raises(DataError, match="--resume"):
        sweep.sweep(snapshot, the_plan, out, 2, 1, serial=True)
    second = sweep.sweep(snapshot, the_plan, out, 2, 1, serial=True, resume=True)
    assert (second.skipped, second.ran) == (1, 3) and kept.stat().st_mtime_ns == stamp
    third = sweep.sweep(snapshot, the_plan, out, 2, 1, serial=True, resume=True)
    assert (third.skipped, third.ran) == (4, 0)


def test_the_command_on_a_local_cluster(tmp_path):
    grid = grid_file(tmp_path, '[grid]\n"model.layers.0.units" = [4, 10]\n')
    args = [
        "sweep",
        "--grid",
        str(grid),
        "--out",
        str(tmp_path / "sw"),
        "--data",
        str(SNAPSHOT),
        "--folds",
        "2",
        "--workers",
        "1",
        "--set",
        "fit.epochs=2",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 trained, 0 already done" in result.output and "best: " in result.output
    table = (tmp_path / "sw" / "results.csv").read_text().splitlines()
    assert table[0].startswith("trial,model.layers.0.units,") and "auc_mean" in table[0] and len(table) == 3
    best = load_recipe(str(tmp_path / "sw" / "best.toml"))
    assert best.name == "tutorial-best" and best.model.layers[0].units in (4, 10) and best.fit.epochs == 2
    from matplotlib.image import imread

    assert imread(tmp_path / "sw" / "sweep.png").shape[0] > 100
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = runner.invoke(app, args + ["--resume"])
    assert resumed.exit_code == 0 and "0 trained, 2 already done" in resumed.output
    both = runner.invoke(app, args + ["--scheduler", "tcp://127.0.0.1:9"])
    assert both.exit_code == 2 and "--workers" in both.output
