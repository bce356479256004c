"""mlp-classifier's probabilities: log-probabilities and probabilities agree, and
held-out log-loss is no worse than scikit-learn's MLPClassifier at its defaults."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("torch")
sklearn = pytest.importorskip("sklearn")

from sklearn import datasets  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as PeerMLP  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from lamina.plugins.torch_mlp.mlp import MLPClassifier  # noqa: E402


def _check_classifiers_train_data():
    """The data of scikit-learn's ``check_classifiers_train`` (standardised blobs)."""
    from sklearn.utils import shuffle

    X, y = datasets.make_blobs(n_samples=300, random_state=0)
    X, y = shuffle(X, y, random_state=7)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("seed", range(4))
def test_probabilities_and_log_probabilities_agree(seed):
    # #15: at defaults log-probabilities reached -3000 to -5000, so predict_proba
    # underflowed to 0 where predict_log_proba was finite.
    if seed == 0:
        X, y = _check_classifiers_train_data()
    else:  # separable blobs of other sizes and class counts (widen the range)
        X, y = datasets.make_blobs(
            n_samples=60 * seed, centers=seed + 1, cluster_std=0.5, random_state=seed
        )
    model = MLPClassifier(random_state=seed).fit(X, y)
    log_proba, proba = model.predict_log_proba(X), model.predict_proba(X)
    assert (proba > 0).all() and np.isfinite(log_proba).all()
    np.testing.assert_allclose(np.log(proba), log_proba, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert log_proba.min() > -50  # scikit-learn's MLPClassifier: about -13 on seed 0
    assert model.score(X, y) > 0.9  # check_classifiers_train asks for 0.83


@pytest.mark.slow
@pytest.mark.parametrize("name", ["iris", "wine"])
def test_held_out_log_loss_no_worse_than_scikit_learn(name):
    """Mean over five stratified 70/30 splits. Deliberate difference: scikit-learn's
    network gets inputs standardised by a StandardScaler fitted on the training
    part, ours standardises them itself (``standardize=True``), which is the same
    transformation."""
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    ours, peer = [], []
    for seed in range(5):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
        model = MLPClassifier(random_state=seed).fit(Xtr, ytr)
        ours.append(log_loss(yte, model.predict_proba(Xte), labels=model.classes_))
        scaler = StandardScaler().fit(Xtr)
        with warnings.catch_warnings():  # its "did not converge" at 200 iterations
            warnings.simplefilter("ignore")
            reference = PeerMLP(random_state=seed).fit(scaler.transform(Xtr), ytr)
        peer.append(
            log_loss(yte, reference.predict_proba(scaler.transform(Xte)), labels=reference.classes_)
        )
    assert np.mean(ours) <= np.mean(peer), (ours, peer)
