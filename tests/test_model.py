import numpy as np
import pytest

from salarynet.nn import model

SPEC = model.ModelSpec(4, (10, 10, 2), ("relu", "relu", "sigmoid"))


def test_glorot_uniform_kernels_and_zero_biases():
    spec = model.ModelSpec(300, (200, 2), ("relu", "sigmoid"))
    params = model.init(np.random.default_rng(0), spec)
    for layer, (fan_in, fan_out) in zip(params["dense"], [(300, 200), (200, 2)]):
        limit = np.sqrt(6 / (fan_in + fan_out))
        kernel = np.asarray(layer["kernel"])
        assert kernel.shape == (fan_in, fan_out) and kernel.dtype == np.float32
        assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
        assert abs(kernel.mean()) < 0.05 * limit
        assert not np.asarray(layer["bias"]).any()


def test_keys_decide_the_weights():
    a, b, c = (model.init(np.random.default_rng(k), SPEC) for k in (1, 1, 2))
    assert all(np.array_equal(x["kernel"], y["kernel"]) for x, y in zip(a["dense"], b["dense"]))
    assert not np.array_equal(a["dense"][0]["kernel"], c["dense"][0]["kernel"])


@pytest.mark.parametrize("rows", [7, 5000])  # the fused form for small batches, the dot for large ones
def test_apply_is_dense_layers_in_order(rows):
    params = model.init(np.random.default_rng(3), SPEC)
    d = params["dense"]
    x = np.random.default_rng(0).random((rows, 4), dtype=np.float32)
    h = np.maximum(x @ d[0]["kernel"] + d[0]["bias"], 0)
    h = np.maximum(h @ d[1]["kernel"] + d[1]["bias"], 0)
    expected = 1 / (1 + np.exp(-(h @ d[2]["kernel"] + d[2]["bias"])))
    np.testing.assert_allclose(model.apply(SPEC, params, x), expected, rtol=1e-5)


def test_softmax_rows_sum_to_one_and_spec_round_trips():
    spec = model.ModelSpec(4, (3, 2), ("tanh", "softmax"))
    out = model.apply(spec, model.init(np.random.default_rng(0), spec), np.ones((5, 4), np.float32))
    np.testing.assert_allclose(np.asarray(out).sum(1), 1, rtol=1e-6)
    assert model.ModelSpec.from_json(spec.to_json()) == spec


def test_finer_classes_collapse_into_below_and_above():
    spec = model.ModelSpec(4, (6, 5), ("relu", "softmax"), collapse=3)
    params = model.init(np.random.default_rng(0), spec)
    x = np.random.default_rng(1).random((7, 4), dtype=np.float32)
    fine, answer = np.asarray(model.apply(spec, params, x, fine=True)), np.asarray(model.apply(spec, params, x))
    assert fine.shape == (7, 5) and answer.shape == (7, 2) and spec.answers == 2 and spec.out_size == 5
    np.testing.assert_allclose(answer[:, 0], fine[:, :3].sum(1), rtol=1e-6)
    np.testing.assert_allclose(answer[:, 1], fine[:, 3:].sum(1), rtol=1e-6)
    assert model.ModelSpec.from_json(spec.to_json()) == spec


def test_embeddings_text_bag_and_wide_part():
    spec = model.ModelSpec(2, (4, 1), ("relu", "sigmoid"), embeddings=((3, 2),), text=(5, 3), dropout=0.5, wide=True)
    params = model.init(np.random.default_rng(0), spec)
    assert spec.first_width == 2 + 2 + 3
    x = model.Inputs(
        np.ones((2, 2), np.float32),
        np.array([[1], [0]], np.int32),
        np.array([[1, 2, 0], [0, 0, 0]], np.int32),
        np.array([[1.0, 2.0, 0], [0, 0, 0]], np.float32),
    )
    first = np.asarray(model.first_inputs(spec, params, x))
    bag = (params["text"][1] * 1.0 + params["text"][2] * 2.0) / np.sqrt(5.0)
    np.testing.assert_allclose(first[0], np.concatenate([[1, 1], params["embed"][0][1], bag]), rtol=1e-5)
    np.testing.assert_allclose(first[1, 4:], 0, atol=1e-6)  # no n-grams: an empty bag
    # The wide part starts at zero; dropout only with a key.
    np.testing.assert_array_equal(model.apply(spec, params, x), model.apply(spec, params, x))
    import jax

    assert not np.array_equal(
        model.apply(spec, params, x, jax.random.PRNGKey(0)), model.apply(spec, params, x, jax.random.PRNGKey(1))
    )
    assert model.unflatten(spec, model.flatten(params)).keys() == params.keys()
    assert model.ModelSpec.from_json(spec.to_json()) == spec
