import json

import pytest

from salarynet.errors import RecipeError
from salarynet.recipe import (
    apply_overrides,
    builtin_recipes,
    load_recipe,
    read_recipe_source,
)


def test_tutorial_recipe_is_the_seeds_settings():
    r = load_recipe("tutorial")
    assert [(l.units, l.activation) for l in r.model.layers] == [(10, "relu"), (10, "relu"), (2, "sigmoid")]
    assert (r.compile.loss, r.compile.optimizer, r.compile.learning_rate) == ("binary_crossentropy", "adagrad", None)
    assert (r.fit.epochs, r.fit.batch_size, r.fit.validation_split, r.fit.shuffle) == (100, 5, 0.2, True)
    assert (r.split.train_fraction, r.features.threshold, r.data.currency) == (0.7, 100000, "USD")
    cols = {c.column: c.mapping() for c in r.features.columns}
    assert list(cols) == ["age", "experience_overall", "gender", "education"]
    assert cols["gender"] == {"Woman": 0.0, "Man": 1.0}
    assert cols["age"]["under 18"] == 1.0 and cols["age"]["65 or over"] == 7.0
    assert list(cols["education"].values()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert "tutorial" in builtin_recipes()


def test_set_overrides_with_toml_types():
    r = load_recipe(
        "tutorial",
        [
            "fit.epochs=20",
            "compile.optimizer=adam",
            "fit.shuffle=false",
            "model.layers.0.units=32",
            "compile.learning_rate=0.01",
        ],
        seed=7,
    )
    assert (r.fit.epochs, r.compile.optimizer, r.fit.shuffle, r.model.layers[0].units) == (20, "adam", False, 32)
    assert (r.compile.learning_rate, r.seed) == (0.01, 7)


def test_overrides_do_not_touch_the_source():
    raw, _ = read_recipe_source("tutorial")
    apply_overrides(raw, ["fit.epochs=3"])
    assert raw["fit"]["epochs"] == 100


@pytest.mark.parametrize(
    "override, message",
    [
        ("fit.epochs=-1", r"fit\.epochs: Input should be greater than 0 \(got -1\)"),
        ("fit.epoch=3", r"fit\.epoch: unknown key"),
        (
            "compile.optimizer=adamw",
            r"compile\.optimizer: Input should be 'adagrad', 'sgd', 'adam' or 'rmsprop' \(got 'adamw'\)",
        ),
        ("model.layers.0.activation=gelu", r"model\.layers\.0\.activation: Input should be 'relu'"),
        ("model.layers.2.units=3", r"the last layer has 3 units"),
        ("fit.validation_split=1.5", r"fit\.validation_split: Input should be less than 1"),
        ("fit.batch_size=five", r"fit\.batch_size: Input should be a valid integer"),
        ("fit.average=1", r"fit\.average: Input should be less than 1 \(got 1\)"),
        (
            "features.label_bands=[50000, 150000]",
            r"features\.label_bands must increase and include the threshold 100,000",
        ),
        (
            "features.label_bands=[50000, 100000]",
            r"features\.label_bands makes 3 classes: the last layer needs that many units",
        ),
        ("features.exclude_protected=maybe", r"features\.exclude_protected: Input should be a valid boolean"),
        ("features.columns.0.column=shoe_size", r"features\.columns\.0\.column: Input should be 'timestamp'"),
        ("model.layers.9.units=3", r"--set model\.layers\.9\.units: '9' is not an index of a list of 3 items"),
        ("fit.epochs.x=3", r"--set fit\.epochs\.x: fit\.epochs is a value, not a section"),
        ("epochs", r"--set 'epochs': expected KEY=VALUE"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(override, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe("tutorial", [override])


def test_encoding_needs_exactly_one_of_order_or_codes(tmp_path):
    raw, _ = read_recipe_source("tutorial")
    raw["features"]["columns"][0]["codes"] = {"25-34": 1}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(
        RecipeError, match=r"r\.json: features\.columns\.0: column 'age' needs exactly one of 'order' or 'codes'"
    ):
        load_recipe(str(path))


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.toml", None, r"recipe .*missing\.toml: no such file"),
        ("bad.toml", "name = [unclosed", r"recipe .*bad\.toml: not valid TOML"),
        (
            "nameonly",
            None,
            r"recipe 'nameonly': not a shipped recipe \(recommended, recommended-bands, recommended-range, tutorial\)",
        ),
    ],
)
def test_unreadable_recipes(tmp_path, monkeypatch, name, content, message):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(RecipeError, match=message):
        load_recipe(str(tmp_path / name) if name.endswith(".toml") else name)


def test_a_runs_recipe_json_loads_back(run_dir, short_recipe):
    assert load_recipe(str(run_dir / "recipe.json")) == short_recipe


def test_a_recipe_extends_another_and_the_shipped_variants_do(tmp_path):
    """recommended-range and recommended-bands extend recommended: only what differs is written in them."""
    for variant in ("recommended-range", "recommended-bands"):
        raw, _ = read_recipe_source(variant)
        assert raw["features"]["columns"] == read_recipe_source("recommended")[0]["features"]["columns"]
        assert "extends" not in raw and "unset" not in raw and "label_bands" not in raw["features"]
    assert load_recipe("recommended-range").blend is None and load_recipe("recommended-bands").blend.linear == 0.3
    assert load_recipe("recommended-range").fit.latest_weight == 1.0  # unset: the default, not recommended's 2.0
    base = tmp_path / "base.toml"
    base.write_text('extends = "tutorial"\nname = "base"\n[fit]\nepochs = 7\n[model]\ndropout = 0.1\n')
    mine = tmp_path / "mine.toml"
    mine.write_text('extends = "base.toml"\nunset = ["model.dropout"]\nname = "mine"\n[fit]\nbatch_size = 8\n')
    r = load_recipe(str(mine))
    assert (r.name, r.fit.epochs, r.fit.batch_size, r.model.dropout) == ("mine", 7, 8, 0.0)
    assert r.features == load_recipe("tutorial").features  # tables merge: the tutorial's features, untouched


@pytest.mark.parametrize(
    "text, message",
    [
        ('extends = "mine.toml"\nname = "x"\n', r"extends .*mine\.toml.*a loop"),
        (
            'extends = "tutorial"\nunset = ["fit.no_such_key"]\n',
            r"unset 'fit\.no_such_key': recipe tutorial .*no such key",
        ),
        ('unset = ["fit.epochs"]\n', r"unset takes keys out of the recipe it extends; it extends none"),
        ("extends = 3\n", r'expected extends = "<recipe>"'),
        ('extends = "nowhere.toml"\n', r"nowhere\.toml: no such file"),
    ],
)
def test_a_bad_extends_is_one_line(tmp_path, text, message):
    mine = tmp_path / "mine.toml"
    mine.write_text(text)
    with pytest.raises(RecipeError, match=message):
        load_recipe(str(mine))
