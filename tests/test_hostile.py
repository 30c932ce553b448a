"""Nothing lost, nothing crashes: a user's files are never replaced, trimmed copies of the survey are read,
and every hostile command ends in one line and exit 2 (or 130 for Ctrl-C) with nothing written."""

import errno
import json
import os
import re

import numpy as np
import pandas as pd
import pytest
from conftest import FORM_HEADERS, TIDY, form_rows
from typer.testing import CliRunner

from salarynet import artifacts
from salarynet.apps import cli, sweep
from salarynet.apps.cli import app
from salarynet.data import source
from salarynet.data.survey import read_survey
from salarynet.errors import DataError, RecipeError
from salarynet.estimator import SalaryNet
from salarynet.fitting import prepare
from salarynet.recipe import load_recipe, validate_recipe
from salarynet.rows import select_rows

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], prog_name="salarynet")


def one_error_line(result, pattern, code=2):
    assert result.exit_code == code, result.output
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(pattern, lines[0]), lines[0]


def snapshot_of(tree) -> dict:
    return {p.relative_to(tree).as_posix(): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- a user's files are never replaced


def test_report_never_replaces_a_users_files_beside_it(run_dir, tmp_path):
    (tmp_path / "README.md").write_text("mine\n")
    one_error_line(
        invoke("report", run_dir, "--out", tmp_path / "README.html"),
        r"README\.md: exists and is not part of a salarynet report; choose another --out",
    )
    assert (tmp_path / "README.md").read_text() == "mine\n" and sorted(os.listdir(tmp_path)) == ["README.md"]
    (tmp_path / "notes.json").write_text("{}")
    one_error_line(invoke("report", run_dir, "--out", tmp_path / "notes.html"), r"notes\.json: exists and is not part")
    assert (tmp_path / "notes.json").read_text() == "{}"


def test_report_never_opens_a_fifo_in_its_way(run_dir, tmp_path):
    os.mkfifo(tmp_path / "r.json")  # opening it would block forever
    one_error_line(invoke("report", run_dir, "--out", tmp_path / "r.html"), r"r\.json: exists and is not part")


def test_a_report_replaces_its_own_earlier_report(run_dir, tmp_path):
    for _ in range(2):
        result = invoke("report", run_dir, "--out", tmp_path / "r.html")
        assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["format"] == "salarynet-report/1"


def test_report_into_a_run_under_one_of_its_file_names_is_refused(run_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    before = snapshot_of(run)
    one_error_line(invoke("report", run, "--out", run / "model.html"), r"model\.json: exists and is not part")
    assert snapshot_of(run) == before
    artifacts.load_run(run)  # still whole


def test_data_import_keeps_other_files_in_the_cache_folder(tmp_path, monkeypatch):
    folder = tmp_path / "shared-cache"
    folder.mkdir()
    (folder / "survey.backup.csv").write_text("a user's backup\n")
    monkeypatch.setenv("SALARYNET_CACHE_DIR", str(folder))
    assert invoke("data", "import", TIDY).exit_code == 0
    gz = tmp_path / "copy.csv.gz"
    import gzip

    gz.write_bytes(gzip.compress(TIDY.read_bytes()))
    assert invoke("data", "import", gz).exit_code == 0  # replaces salarynet's own survey.csv with survey.csv.gz
    assert sorted(os.listdir(folder)) == ["survey.backup.csv", "survey.csv.gz", "survey.json"]
    assert (folder / "survey.backup.csv").read_text() == "a user's backup\n"


def test_data_import_refuses_a_survey_file_or_record_it_did_not_write(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir()
    monkeypatch.setenv("SALARYNET_CACHE_DIR", str(folder))
    (folder / "survey.csv").write_text("my own survey.csv\n")
    one_error_line(invoke("data", "import", TIDY), r"survey\.csv: exists and is not salarynet's cached survey")
    (folder / "survey.csv").unlink()
    (folder / "survey.json").write_text('{"mine": true}')
    one_error_line(invoke("data", "import", TIDY), r"survey\.json: exists and is not salarynet's cache record")
    assert (folder / "survey.json").read_text() == '{"mine": true}' and sorted(os.listdir(folder)) == ["survey.json"]


def test_predict_output_replaces_only_its_own_predictions(run_dir, tmp_path):
    mine = tmp_path / "notes.csv"
    mine.write_text("my,notes\n")
    one_error_line(
        invoke("predict", run_dir, "--input", TIDY, "--output", mine),
        r"notes\.csv: exists and is not a salarynet predictions file",
    )
    assert mine.read_text() == "my,notes\n"
    ours = tmp_path / "p.csv"
    for _ in range(2):
        assert invoke("predict", run_dir, "--input", TIDY, "--output", ours).exit_code == 0
    assert len(pd.read_csv(ours)) == 200


def test_predict_output_on_a_read_only_file_system_is_one_line(run_dir, tmp_path, monkeypatch):
    def read_only(self, path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", read_only)
    one_error_line(
        invoke("predict", run_dir, "--input", TIDY, "--output", tmp_path / "p.csv"),
        r"p\.csv: cannot write the predictions \(Read-only file system\)",
    )
    assert os.listdir(tmp_path) == []


def test_train_refuses_a_foreign_out_folder_before_the_work(tmp_path, monkeypatch):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran before --out was checked")

    monkeypatch.setattr(SalaryNet, "fit", no_fit)
    one_error_line(
        invoke("train", "--data", TIDY, "--out", tmp_path / "mine"), r"mine: exists and is not a salarynet run"
    )
    one_error_line(
        invoke("compare", "--recipe", "tutorial", "--data", TIDY, "--out", tmp_path / "mine"),
        r"mine: exists and is not a salarynet folder",
    )


def test_an_interrupt_swallowed_mid_fit_still_stops_before_anything_is_written(trained, tmp_path, monkeypatch):
    def interrupted_fit(self, survey, y=None, **kwargs):
        # As when Ctrl-C lands in a garbage-collection callback: the handler ran, the exception was lost.
        monkeypatch.setattr(cli._Interrupted, "seen", True)
        return trained

    monkeypatch.setattr(SalaryNet, "fit", interrupted_fit)
    monkeypatch.chdir(tmp_path)
    result = invoke("train", "--data", TIDY, "--out", tmp_path / "run")
    assert result.exit_code == 130 and "interrupted; nothing was written" in result.stderr
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- copies of the survey as people publish them


def core_rows(n: int = 60) -> pd.DataFrame:
    """Hand-made rows with only the form's core answers: no timestamp, title context or other-currency column."""
    rng = np.random.default_rng(0)
    rows = [
        {"annual_salary": str(int(s)), "job_title": t, "gender": g}
        for s, t, g in zip(
            rng.integers(30_000, 250_000, n),
            ["Analyst", "Engineer", "Director"] * (n // 3),
            ["Woman", "Man", "Non-binary"] * (n // 3),
        )
    ]
    return form_rows(*rows)


def test_a_copy_with_only_the_core_columns_trains_the_recommended_recipe(tmp_path):
    path = tmp_path / "core.csv"
    core_rows().to_csv(path, index=False)
    survey = read_survey(path)
    recipe = load_recipe("recommended")
    prep = prepare(
        select_rows(survey, recipe), recipe, survey.path
    )  # fits every encoder and the title n-grams on blanks where absent
    assert prep.rows["kept"] == 60 and prep.x_train.tokens.shape[0] == prep.rows["train"]
    missing = [n for n in survey.notes if n.startswith("no ")]
    assert len(missing) == 1 and all(
        c in missing[0] for c in ("experience_field", "state", "city", "race", "job_context")
    )


def test_trimmed_copies_read_absent_answers_as_blank_and_say_so(tmp_path):
    path = tmp_path / "trimmed.csv"
    core_rows().drop(columns=[FORM_HEADERS["gender"], FORM_HEADERS["country"], FORM_HEADERS["industry"]]).to_csv(
        path, index=False
    )
    result = invoke("data", "info", "--data", path, "--recipe", "recommended")
    assert result.exit_code == 0, result.output
    assert "rows: read 60, kept 60" in result.stdout
    [note] = [l for l in result.stdout.splitlines() if "note: no " in l]
    assert note.endswith("column in the file: read as blank") and all(
        c in note for c in ("industry", "gender", "country")
    )


def test_a_refusal_names_every_missing_column_and_the_file(tmp_path):
    path = tmp_path / "two-missing.csv"
    form_rows({}).drop(columns=[FORM_HEADERS["gender"], FORM_HEADERS["education"]]).to_csv(path, index=False)
    one_error_line(
        invoke("train", "--data", path),
        r"two-missing\.csv: missing columns 'gender', 'education' \(recipe tutorial needs .*\)",
    )


def test_an_unrecognised_header_gets_the_accepted_spellings(tmp_path):
    path = tmp_path / "edu.csv"
    pd.DataFrame(
        {
            "age": ["25-34"],
            "professional_experience_years": ["5-7 years"],
            "gender": ["Woman"],
            "Level of Education": ["PhD"],  # ("Highest level of education ..." is the 2023 form's, and reads)
            "annual_salary": ["50000"],
        }
    ).to_csv(path, index=False)
    one_error_line(
        invoke("train", "--data", path),
        r"missing column 'education' .*headers not recognised: 'Level of Education'; education is "
        r"read from .*'highest_level_of_education_completed' or 'highest_edu_level'",
    )


def test_when_no_row_is_usable_the_error_shows_the_accounting_and_the_answers_at_fault(tmp_path):
    path = tmp_path / "bands.csv"
    pd.DataFrame(
        {
            "age": ["25-34"] * 8,
            "professional_experience_years": ["11-20 ", "0-1", "41+", "0-1"] * 2,
            "gender": ["Woman"] * 8,
            "highest_edu_level": ["PhD"] * 8,
            "annual_salary": ["50000"] * 8,
        }
    ).to_csv(path, index=False)
    one_error_line(
        invoke("train", "--data", path),
        r"no usable rows for recipe tutorial: read 8, kept 0, excluded 8 \(experience_overall_unlisted 8\); "
        r"experience_overall answers '0-1' \(4\), '11-20' \(2\), '41\+' \(2\) are not among '1 year or less'",
    )


def test_the_tutorials_headers_with_more_columns_are_still_the_tutorials_schema(tmp_path):
    path = tmp_path / "tutorial-plus.csv"
    pd.DataFrame(
        {
            "age": ["25-34"],
            "professional_experience_years": ["5-7 years"],
            "gender": ["Woman"],
            "highest_edu_level": ["PhD"],
            "annual_salary": ["5"],
            "industry": ["x"],
            "job_title": ["y"],
        }
    ).to_csv(path, index=False)
    assert read_survey(path).schema == "tutorial"
    assert read_survey(TIDY).schema == "tidytuesday"


def test_a_zero_salary_is_excluded_from_log_salary_not_a_diverged_fit(tmp_path):
    path = tmp_path / "zero.csv"
    core_rows().assign(**{FORM_HEADERS["annual_salary"]: ["0"] * 5 + ["60000"] * 55}).to_csv(path, index=False)
    recipe = load_recipe("recommended-range", ["data.min_salary=0"])
    assert select_rows(read_survey(path), recipe).rows["excluded"] == {"salary_zero": 5}


# ---------------------------------------------------------------- recipes, grids and commands


@pytest.mark.parametrize(
    "override, message",
    [
        ("fit.epochs=true", r"fit\.epochs: Input should be a valid integer \(got True\)"),
        ('fit.epochs="20"', r"fit\.epochs: Input should be a valid integer \(got '20'\)"),
        ("fit.epochs=100000000", r"fit\.epochs: Input should be less than or equal to 10000"),
        ("model.layers.0.units=1000000000", r"units: Input should be less than or equal to 16384"),
        ("features.text.buckets=1e12", r"buckets: Input should be a valid integer"),
        ('fit.shuffle="yes"', r"fit\.shuffle: Input should be a valid boolean"),
    ],
)
def test_recipe_values_are_strict_and_bounded(override, message):
    recipe = "recommended" if "text" in override else "tutorial"
    with pytest.raises(RecipeError, match=message):
        load_recipe(recipe, [override])


def test_a_recipe_saved_with_a_byte_order_mark_reads(tmp_path):
    from importlib import resources

    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + resources.files("salarynet.recipes").joinpath("tutorial.toml").read_bytes())
    assert load_recipe(str(path)) == load_recipe("tutorial")
    saved = json.loads(json.dumps(load_recipe("recommended-range").model_dump(mode="json")))
    assert validate_recipe(saved) == load_recipe("recommended-range")  # strict, yet a saved recipe reads back


def test_a_huge_grid_is_refused_at_once_and_a_random_draw_from_it_is_not(tmp_path):
    grid = tmp_path / "grid.toml"
    values = ", ".join(str(0.001 * (i + 1)) for i in range(1000))
    grid.write_text(f'[grid]\n"compile.learning_rate" = [{values}]\n"seed" = [{", ".join(map(str, range(1000)))}]\n')
    with pytest.raises(DataError, match=r"1,000,000 combinations; at most 10,000 trials in one sweep"):
        sweep.plan("tutorial", grid, 2, 1, None)
    grid.write_text(grid.read_text() + '[search]\nkind = "random"\ntrials = 5\nseed = 1\n')
    drawn = sweep.plan("tutorial", grid, 2, 1, None)
    assert len(drawn.trials) == len({t.id for t in drawn.trials}) == 5
    assert drawn.trials == sweep.plan("tutorial", grid, 2, 1, None).trials  # the same draw for the same seed


@pytest.mark.parametrize(
    "address, message",
    [
        ("garbage:::", r"--scheduler 'garbage:::': not a scheduler address"),
        ("tcp://127.0.0.1:1", r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:1 \(Connection refused\)"),
    ],
)
def test_a_bad_scheduler_is_one_line_and_leaves_no_folder(tmp_path, address, message):
    grid = tmp_path / "grid.toml"
    grid.write_text('[grid]\n"compile.learning_rate" = [0.01]\n')
    one_error_line(
        invoke(
            "sweep",
            "--grid",
            grid,
            "--data",
            TIDY,
            "--scheduler",
            address,
            "--out",
            tmp_path / "s",
            "--set",
            "fit.epochs=1",
        ),
        message,
    )
    assert not (tmp_path / "s").exists()


def test_resume_reruns_a_trial_file_of_the_wrong_shape(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('[grid]\n"compile.learning_rate" = [0.01, 0.1]\n')
    the_plan = sweep.plan("tutorial", grid, 2, 1, None, ["fit.epochs=1"])
    out = tmp_path / "s"
    (out / "trials").mkdir(parents=True)
    good, bad = the_plan.trials
    result = {"trial": good.id, "values": good.values, "summary": {"auc": {"mean": 0.6, "sd": 0.01}}}
    sweep.write_json_atomic(sweep.trial_path(out, good.id), result)
    sweep.trial_path(out, bad.id).write_text('[1, 2, {"summary": null}]')
    done, damaged = sweep.finished(out, the_plan.trials)
    assert list(done) == [good.id] and damaged == [sweep.trial_path(out, bad.id)]


def test_a_sweep_never_writes_into_a_folder_of_other_files(tmp_path):
    (tmp_path / "results.csv").write_text("my results\n")
    (tmp_path / "thesis.tex").write_text("x")
    with pytest.raises(DataError, match=r"holds other files \(thesis\.tex\)"):
        sweep.check_out(tmp_path, resume=True)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["serve", "run", "--port", "99999"],
            r"salarynet serve: Invalid value for '--port': .*65535 \(see salarynet serve --help\)",
        ),
        (["train", "--seeds", "0"], r"salarynet train: Invalid value for '--seeds'"),
        (["data", "info", "--bogus"], r"salarynet data info: No such option: --bogus"),
        (["nosuch"], r"salarynet: No such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_line(args, message):
    one_error_line(invoke(*args), message)


def test_the_live_cache_record_is_checked_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setenv("SALARYNET_CACHE_DIR", str(tmp_path))
    (tmp_path / "survey.json").write_text(json.dumps({"file": "/etc/passwd", "sha256": "x", "source": "live"}))
    assert source.cached() is None  # a record naming a file outside the cache folder is not salarynet's


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("no-such-host.invalid", False),
    ],
)
def test_serve_warns_unless_the_host_is_this_machines_loopback(host, loopback):
    assert cli._loopback(host) is loopback
