"""Constructive approximators against independent references: numpy.interp,
matplotlib's triangle interpolation, numpy.linalg.lstsq and the interpolation
error bound."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lamina.errors import InputError  # noqa: E402
from lamina.learn.model_file import load_model  # noqa: E402
from lamina.plugins.torch_mlp.constructive import RandomFeatures, ReLUInterpolant  # noqa: E402


def _network_output(model, X):
    with torch.no_grad():
        return model.network()(torch.from_numpy(X)).numpy()[:, 0]


def test_relu_interpolant_is_numpy_interp_exactly():
    rng = np.random.default_rng(1)
    knots = np.sort(rng.uniform(-3, 3, 40))
    values = np.sin(2 * knots) + rng.normal(0, 0.1, 40)
    model = ReLUInterpolant().fit(knots[::-1, None], values[::-1])  # order must not matter
    t = np.linspace(-4, 4, 2001)[:, None]  # also beyond the knots: constant, as np.interp
    reference = np.interp(t[:, 0], knots, values)
    np.testing.assert_allclose(model.predict(t), reference, rtol=0, atol=1e-12)
    network = model.network()
    assert [type(m).__name__ for m in network] == ["Linear", "ReLU", "Linear"]
    assert network[0].out_features == len(knots) == model.n_hidden_
    np.testing.assert_allclose(_network_output(model, t), reference, rtol=0, atol=1e-12)
    assert model.exact_


def test_duplicate_inputs_are_averaged():
    X = np.array([[0.0], [1.0], [1.0], [2.0]])
    model = ReLUInterpolant().fit(X, np.array([0.0, 1.0, 3.0, 0.0]))
    np.testing.assert_allclose(model.predict([[1.0], [0.5]]), [2.0, 1.0])


def test_two_dimensional_interpolant_matches_matplotlib_triangulation():
    mtri = pytest.importorskip("matplotlib.tri")
    gx, gy = np.linspace(0, 1, 7), np.array([-1.0, -0.2, 0.5, 1.1, 2.0])  # non-uniform y
    nodes = np.array(np.meshgrid(gx, gy, indexing="ij")).reshape(2, -1).T
    values = np.sin(3 * nodes[:, 0]) + nodes[:, 1] ** 2
    model = ReLUInterpolant().fit(nodes, values)
    assert model.exact_ and model.n_hidden_ == len(nodes)
    # The Kuhn triangulation: each cell cut by the diagonal from its lower-left corner.
    ny = len(gy)
    triangles = []
    for i in range(len(gx) - 1):
        for j in range(ny - 1):
            a, b, c, d = i * ny + j, (i + 1) * ny + j, (i + 1) * ny + j + 1, i * ny + j + 1
            triangles += [[a, b, c], [a, d, c]]
    reference_interpolator = mtri.LinearTriInterpolator(
        mtri.Triangulation(nodes[:, 0], nodes[:, 1], np.array(triangles)), values
    )
    points = np.random.default_rng(0).uniform([0, -1], [1, 2], (400, 2))
    reference = reference_interpolator(points[:, 0], points[:, 1]).data
    np.testing.assert_allclose(model.predict(points), reference, atol=1e-12)
    network = model.network()
    np.testing.assert_allclose(_network_output(model, points), reference, atol=1e-12)
    assert all(
        isinstance(m, torch.nn.Linear | torch.nn.ReLU | torch.nn.Sequential | torch.nn.ModuleList)
        for m in network.modules()
        if m is not network
    )


def test_error_bound_holds_and_is_tight_for_sine():
    # |sin''| <= 1, so on a uniform grid of spacing h the error is at most h^2 / 8,
    # and it is nearly attained at the middle of the cell around pi/2.
    knots = np.linspace(-np.pi, np.pi, 33)
    model = ReLUInterpolant().fit(knots[:, None], np.sin(knots))
    t = np.linspace(-np.pi, np.pi, 100_001)
    error = np.max(np.abs(model.predict(t[:, None]) - np.sin(t)))
    h = knots[1] - knots[0]
    assert model.error_bound(1.0) == pytest.approx(h**2 / 8)
    assert error <= model.error_bound(1.0)
    assert error >= 0.95 * model.error_bound(1.0)


def test_two_dimensional_error_bound():
    # f = x^2 + y^2 has Hessian 2 I: bound M (hx^2 + hy^2) / 8 with M = 2.
    axis = np.linspace(-1, 1, 11)
    nodes = np.array(np.meshgrid(axis, axis, indexing="ij")).reshape(2, -1).T
    model = ReLUInterpolant().fit(nodes, (nodes**2).sum(axis=1))
    points = np.random.default_rng(3).uniform(-1, 1, (20000, 2))
    error = np.max(np.abs(model.predict(points) - (points**2).sum(axis=1)))
    assert error <= model.error_bound(2.0) == pytest.approx(2 * 2 * 0.2**2 / 8)


def test_scattered_data_least_squares_reproduces_an_affine_function():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (300, 3))
    y = 1.0 + X @ np.array([0.5, -2.0, 3.0])
    model = ReLUInterpolant(n_knots=4).fit(X, y)
    assert not model.exact_
    np.testing.assert_allclose(model.predict(X), y, atol=1e-5)


def test_too_many_nodes_is_an_input_error():
    X = np.random.default_rng(0).uniform(size=(10, 6))
    with pytest.raises(InputError, match="grid nodes"):
        ReLUInterpolant(n_knots=20).fit(X, X[:, 0])
    with pytest.raises(InputError, match="n_knots"):
        ReLUInterpolant(n_knots=1).fit(X, X[:, 0])


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "cos"])
def test_random_features_output_weights_are_numpy_lstsq(activation):
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (150, 2))
    y = np.column_stack([np.sin(X[:, 0]) * X[:, 1], np.cos(X[:, 1])])
    model = RandomFeatures(n_features=60, activation=activation, random_state=0).fit(X, y)
    design = np.hstack([model.features(X), np.ones((len(X), 1))])
    solution = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(model.coef_, solution[:-1], rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(model.intercept_, solution[-1], rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(model.predict(X), design @ solution, atol=1e-8)
    # The features are the activation of an affine map of the box-scaled inputs.
    scaled = (X - (X.min(0) + X.max(0)) / 2) / ((X.max(0) - X.min(0)) / 2)
    pre = scaled @ model.weights_.T + model.biases_
    expected = {
        "relu": np.maximum(pre, 0),
        "tanh": np.tanh(pre),
        "sigmoid": 1 / (1 + np.exp(-pre)),
        "cos": np.cos(pre),
    }[activation]
    np.testing.assert_allclose(model.features(X), expected, rtol=1e-12, atol=1e-12)


def test_random_features_ridge_matches_closed_form():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (80, 1))
    y = np.sin(3 * X[:, 0])
    alpha = 0.3
    model = RandomFeatures(n_features=40, alpha=alpha, random_state=2).fit(X, y)
    A = np.hstack([model.features(X), np.ones((len(X), 1))])
    penalty = alpha * np.diag(np.r_[np.ones(40), 0.0])  # the intercept is not penalised
    solution = np.linalg.solve(A.T @ A + penalty, A.T @ y)
    np.testing.assert_allclose(
        np.r_[model.coef_[:, 0], model.intercept_], solution, rtol=1e-8, atol=1e-10
    )


def test_random_features_error_falls_with_width():
    x = np.linspace(-np.pi, np.pi, 2000)[:, None]
    errors = [
        np.max(
            np.abs(
                RandomFeatures(n_features=k, random_state=0).fit(x, np.sin(x[:, 0])).predict(x)
                - np.sin(x[:, 0])
            )
        )
        for k in (8, 32, 128)
    ]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-2


def test_save_and_load_round_trip(tmp_path):
    X = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    y = np.sin(X).sum(axis=1)
    for model in (ReLUInterpolant(n_knots=5), RandomFeatures(n_features=20, random_state=0)):
        model.fit(X, y)
        model.save(tmp_path / "model.npz")
        loaded = load_model(tmp_path / "model.npz")
        assert type(loaded) is type(model)
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
