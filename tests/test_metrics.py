import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salarynet.nn import metrics


def test_probability_and_class_agree_for_two_sigmoid_outputs():
    outputs = np.array([[0.9, 0.3], [0.2, 0.6], [0.5, 0.5], [0.0, 0.0]])
    prob = metrics.probability(outputs, "sigmoid")
    np.testing.assert_allclose(prob, [0.25, 0.75, 0.5, 0.5])
    assert metrics.predicted_class(outputs).tolist() == [0, 1, 0, 0]


def test_probability_for_softmax_and_one_output():
    np.testing.assert_allclose(metrics.probability(np.array([[0.3, 0.7]]), "softmax"), [0.7])
    np.testing.assert_allclose(metrics.probability(np.array([[0.2], [1.3]]), "sigmoid"), [0.2, 1.0])
    assert metrics.predicted_class(np.array([[0.2], [0.7]])).tolist() == [0, 1]


def test_binary_accuracy_is_kerass_over_both_outputs():
    # Row 1: both outputs right; row 2: argmax right but output 0 is above 0.5 too.
    outputs = np.array([[0.8, 0.1], [0.6, 0.9]])
    assert metrics.binary_accuracy(outputs, np.array([0, 1])) == pytest.approx(0.75)


def test_classification_metrics_by_hand():
    labels = np.array([0, 0, 1, 1, 1])
    outputs = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2], [0.1, 0.9]])
    m = metrics.classification_metrics(labels, outputs, "sigmoid", majority_class=0)
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["confusion_matrix"] == {"tn": 1, "fp": 1, "fn": 1, "tp": 2}
    # Negatives score 0.1, 0.6; positives 0.7, 0.2, 0.9: 5 of the 6 pairs are ordered right.
    assert m["auc"] == pytest.approx(5 / 6)
    assert m["majority_accuracy"] == pytest.approx(0.4) and m["positive_rate"] == pytest.approx(0.6)


def test_auc_is_none_with_one_class():
    m = metrics.classification_metrics(np.array([0, 0]), np.array([[0.9, 0.1], [0.2, 0.8]]), "sigmoid", 0)
    assert m["auc"] is None and m["accuracy"] == 0.5


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-3, 3) | st.floats(-1, 1, allow_nan=False), min_size=1, max_size=200))
def test_average_ranks_are_scipys_rankdata(values):
    from scipy.stats import rankdata

    np.testing.assert_array_equal(metrics.average_ranks(np.asarray(values, dtype=float)), rankdata(values))


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 5), st.integers(0, 2**32 - 1), st.integers(3, 300), st.sampled_from(["sigmoid", "softmax"]))
def test_classification_metrics_are_scikit_learns(k, seed, rows, activation):
    """AUC (one class against the rest, averaged, for more than two), log loss and the confusion matrix are what
    scikit-learn's functions give, on rounded outputs (ties) and every class present or not."""
    from sklearn.metrics import confusion_matrix, log_loss, roc_auc_score

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, rows)
    outputs = np.round(rng.random((rows, k)), 1) + 1e-3  # rounded: many ties
    if activation == "softmax":
        outputs = outputs / outputs.sum(axis=1, keepdims=True)
    m = metrics.classification_metrics(labels, outputs, activation, majority_class=0)
    probs = metrics.class_probabilities(outputs, activation)
    clipped = metrics._clipped(probs)  # log loss: kept off 0 as Keras does
    assert m["log_loss"] == pytest.approx(log_loss(labels, clipped, labels=list(range(k))), rel=1e-12)
    matrix = confusion_matrix(labels, metrics.predicted_class(outputs), labels=list(range(k)))
    assert (
        (m["confusion_matrix"] == matrix.tolist())
        if k > 2
        else (list(m["confusion_matrix"].values()) == matrix.ravel().tolist())
    )
    if len(np.unique(labels)) < k:
        assert m["auc"] is None
    elif k == 2:
        assert m["auc"] == pytest.approx(roc_auc_score(labels, probs[:, 1]), rel=1e-12)
    else:
        assert m["auc"] == pytest.approx(
            roc_auc_score(labels, probs, multi_class="ovr", labels=list(range(k))), rel=1e-12
        )
