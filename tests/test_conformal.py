"""Split-conformal ranges (conformalized quantile regression): the guarantee on synthetic data whose truth is
known, the Mondrian variant per group, and a range run that sets its calibration rows aside and keeps them."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from salarynet import artifacts, conformal
from salarynet.errors import ArtifactError, RecipeError
from salarynet.estimator import load
from salarynet.recipe import load_recipe


def synthetic(n: int, rng: np.random.Generator, noise: np.ndarray | float = 1.0):
    """y = x + noise; a quantile model that is too narrow (it believes the noise sd is 0.5): outputs
    (estimate, low, high) with low/high at +-0.5 * 1.2816 (its 10% and 90% quantiles)."""
    x = rng.normal(size=n)
    y = x + rng.normal(size=n) * noise
    outputs = np.stack([x, x - 0.5 * 1.2816, x + 0.5 * 1.2816], axis=1)
    return outputs, y


def covered(outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (outputs[:, 1] <= y) & (y <= outputs[:, 2])


def test_the_correction_is_the_finite_sample_quantile_of_the_scores():
    s = np.array([0.3, -0.2, 0.9, 0.1, 0.5, -0.4, 0.7, 0.0, 0.2])  # n = 9: k = ceil(10 * 0.8) = 8
    assert conformal.correction(s, 0.8) == np.sort(s)[7] == 0.7
    assert conformal.correction(s[:3], 0.8) == math.inf  # 3 rows cannot promise 80%: k = 4 > 3
    # score: how far outside the range, negative inside; a crossed range is sorted first
    outputs = np.array([[0.0, -1.0, 1.0], [0.0, 1.0, -1.0], [0.0, -1.0, 1.0]])
    assert conformal.scores(outputs, np.array([0.5, 3.0, -2.0])).tolist() == [-0.5, 2.0, 1.0]


def test_calibrated_ranges_cover_at_least_their_share_of_new_rows_on_average():
    """The guarantee: over repeated calibration sets, the coverage of new rows is at least 1 - alpha, and at
    most 1 - alpha + 1 / (n + 1) (continuous scores). The plain ranges cover only about 48%."""
    rng = np.random.default_rng(0)
    n, runs, plain, calibrated = 200, 300, [], []
    frame = pd.DataFrame(index=range(n))
    for _ in range(runs):
        out_cal, y_cal = synthetic(n, rng)
        out_new, y_new = synthetic(2000, rng)
        state = conformal.calibrate(out_cal, y_cal, frame, 0.8, spread=1.0)
        plain.append(covered(out_new, y_new).mean())
        calibrated.append(covered(conformal.apply(state, out_new, None, spread=1.0), y_new).mean())
    assert np.mean(plain) < 0.55
    # mean over 300 runs; its standard error is about 0.0016
    assert 0.8 - 0.005 <= np.mean(calibrated) <= 0.8 + 1 / (n + 1) + 0.005


def test_the_correction_is_in_log_salary_whatever_the_network_s_scale():
    rng = np.random.default_rng(1)
    out, y = synthetic(500, rng)
    frame = pd.DataFrame(index=range(500))
    spread = 0.7  # the network's outputs are (log salary - shift) / spread
    scaled = conformal.calibrate(out / spread, y / spread, frame, 0.8, spread=spread)
    plain = conformal.calibrate(out, y, frame, 0.8, spread=1.0)
    assert scaled.correction == pytest.approx(plain.correction)
    assert np.allclose(
        conformal.apply(scaled, out / spread, None, spread) * spread, conformal.apply(plain, out, None, 1.0)
    )


def test_mondrian_corrections_hold_within_each_group():
    """Two groups, one twice as noisy: one overall correction over-covers the quiet group and under-covers the
    noisy one; a correction per group covers each at its share."""
    rng = np.random.default_rng(2)

    def rows(n):
        group = rng.choice(["Woman", "Man"], size=n, p=[0.7, 0.3])
        out, y = synthetic(n, rng, noise=np.where(group == "Man", 2.0, 1.0))
        return out, y, pd.DataFrame({"gender": group})

    cal, new = rows(20000), rows(20000)  # a group's coverage then varies by about 0.005 around 0.8
    overall = conformal.calibrate(*cal, 0.8, spread=1.0)
    mondrian = conformal.calibrate(*cal, 0.8, spread=1.0, by="gender")
    assert set(mondrian.groups) == {"woman", "man"} and mondrian.group_rows["man"] > 5000
    groups = new[2]["gender"].to_numpy()
    for state, tolerance in ((overall, None), (mondrian, 0.02)):
        hit = covered(conformal.apply(state, new[0], new[2], 1.0), new[1])
        by_group = {g: hit[groups == g].mean() for g in ("Woman", "Man")}
        if tolerance is None:
            assert by_group["Woman"] > 0.85 and by_group["Man"] < 0.70
        else:
            assert all(abs(c - 0.8) < tolerance for c in by_group.values()), by_group


def test_small_groups_use_the_overall_correction_and_the_estimate_stays_inside():
    rng = np.random.default_rng(3)
    out, y = synthetic(300, rng)
    frame = pd.DataFrame({"gender": ["Woman"] * 290 + ["Non-binary"] * 10})
    state = conformal.calibrate(out, y, frame, 0.8, spread=1.0, by="gender", min_rows=30)
    assert list(state.groups) == ["woman"] and state.group_rows == {"non-binary": 10, "woman": 290}
    few = conformal.calibrate(out[:293], y[:293], frame.iloc[np.r_[0:290, 290:293]], 0.8, 1.0, by="gender", min_rows=1)
    assert list(few.groups) == ["woman"]  # 3 rows allow no finite 80% correction: the overall one
    new = pd.DataFrame({"gender": ["Non-binary", None, "Woman"]})
    wide = np.array([[0.0, -5.0, 5.0]] * 3)  # far too wide: the correction narrows it, never past the estimate
    fixed = conformal.apply(state, wide, new, 1.0)
    assert (fixed[:, 1] <= fixed[:, 0]).all() and (fixed[:, 0] <= fixed[:, 2]).all()
    assert fixed[0, 1] == fixed[1, 1] == -5.0 - state.correction and fixed[2, 1] == -5.0 - state.groups["woman"]


def test_conformal_is_for_ranges_and_groups_by_a_survey_question():
    with pytest.raises(RecipeError, match="conformal calibrates a salary range"):
        load_recipe("recommended", ["conformal.fraction=0.1"])
    with pytest.raises(RecipeError, match="conformal.by"):
        load_recipe("recommended-range", ['conformal.by="gendr"'])
    with pytest.raises(RecipeError, match="conformal.fraction"):
        load_recipe("recommended-range", ["conformal.fraction=0.9"])
    assert load_recipe("recommended-range", ["conformal.by=gender"]).conformal.by == "gender"


def test_a_range_run_sets_calibration_rows_aside_and_keeps_its_corrections(runs):
    folder = runs / "recommended-range"
    record = json.loads((folder / "metrics.json").read_text())
    rows = record["rows"]
    assert rows["train"] + rows["calibration"] + rows["test"] == rows["kept"]
    assert rows["calibration"] == pytest.approx(0.15 * (rows["kept"] - rows["test"]), abs=1)
    # the refit leaves the calibration rows out, and is calibrated again on them
    assert record["refit"]["rows"] == rows["kept"] - rows["calibration"]
    assert record["conformal_refit"]["rows"] == record["conformal"]["rows"] == rows["calibration"]
    # on the held-out test rows (the guarantee, not a measured number: 80% +- several standard errors)
    assert abs(record["test"]["coverage"] - 0.8) < 0.04
    net = load(folder)
    assert net.conformal_.correction == record["conformal_refit"]["correction"]
    person = {"job_title": "Data Scientist", "country": "USA", "state": "California", "age": "25-34"}
    table = net.predict_frame(person | {"experience_overall": "5-7 years", "experience_field": "5-7 years"})
    assert table["low"][0] < table["salary"][0] < table["high"][0]


def test_a_changed_calibration_file_is_refused(runs, tmp_path):
    import shutil

    folder = shutil.copytree(runs / "recommended-range", tmp_path / "copy")
    path = folder / artifacts.CONFORMAL
    path.write_text(path.read_text().replace('"correction": ', '"correction": 1'))
    with pytest.raises(ArtifactError, match="checksum"):
        load(folder)
    path.unlink()
    with pytest.raises(ArtifactError, match="conformal"):
        load(folder)
