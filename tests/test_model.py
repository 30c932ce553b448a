import numpy as np
import pytest

from salarynet import model

SPEC = model.ModelSpec(4, (10, 10, 2), ("relu", "relu", "sigmoid"))


def test_glorot_uniform_kernels_and_zero_biases():
    spec = model.ModelSpec(300, (200, 2), ("relu", "sigmoid"))
    params = model.init(np.random.default_rng(0), spec)
    for layer, (fan_in, fan_out) in zip(params, [(300, 200), (200, 2)]):
        limit = np.sqrt(6 / (fan_in + fan_out))
        kernel = np.asarray(layer["kernel"])
        assert kernel.shape == (fan_in, fan_out) and kernel.dtype == np.float32
        assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
        assert abs(kernel.mean()) < 0.05 * limit
        assert not np.asarray(layer["bias"]).any()


def test_keys_decide_the_weights():
    a, b, c = (model.init(np.random.default_rng(k), SPEC) for k in (1, 1, 2))
    assert all(np.array_equal(x["kernel"], y["kernel"]) for x, y in zip(a, b))
    assert not np.array_equal(a[0]["kernel"], c[0]["kernel"])


@pytest.mark.parametrize("rows", [7, 5000])  # the fused form for small batches, the dot for large ones
def test_apply_is_dense_layers_in_order(rows):
    params = model.init(np.random.default_rng(3), SPEC)
    x = np.random.default_rng(0).random((rows, 4), dtype=np.float32)
    h = np.maximum(x @ params[0]["kernel"] + params[0]["bias"], 0)
    h = np.maximum(h @ params[1]["kernel"] + params[1]["bias"], 0)
    expected = 1 / (1 + np.exp(-(h @ params[2]["kernel"] + params[2]["bias"])))
    np.testing.assert_allclose(model.apply(SPEC, params, x), expected, rtol=1e-5)


def test_softmax_rows_sum_to_one_and_spec_round_trips():
    spec = model.ModelSpec(4, (3, 2), ("tanh", "softmax"))
    out = model.apply(spec, model.init(np.random.default_rng(0), spec), np.ones((5, 4), np.float32))
    np.testing.assert_allclose(np.asarray(out).sum(1), 1, rtol=1e-6)
    assert model.ModelSpec.from_json(spec.to_json()) == spec
