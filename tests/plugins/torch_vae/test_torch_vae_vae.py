"""The VAE learner: bounds against exact log-likelihoods, determinism, checkpoints,
resume, bad input and scikit-learn's estimator protocol."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lamina.errors import InputError  # noqa: E402
from lamina.learn.model_file import load_model  # noqa: E402
from lamina.learn.torch import load_checkpoint, save_checkpoint  # noqa: E402
from lamina.learn.validation import NotFittedError  # noqa: E402
from lamina.plugins.torch_vae.vae import VariationalAutoencoder  # noqa: E402


@pytest.fixture(scope="module")
def binary_data() -> np.ndarray:
    """Two prototypes with 10% pixel noise: 16 binary features."""
    rng = np.random.default_rng(0)
    prototypes = np.array([[1] * 8 + [0] * 8, [0, 1] * 8], dtype=float)
    rows = prototypes[rng.integers(0, 2, 240)]
    flips = rng.random(rows.shape) < 0.1
    return np.where(flips, 1 - rows, rows)


@pytest.fixture(scope="module")
def fitted(binary_data) -> VariationalAutoencoder:
    return VariationalAutoencoder(
        latent_dim=1, hidden=(32,), max_epochs=60, learning_rate=3e-3, random_state=0, device="cpu"
    ).fit(binary_data)


def test_elbo_and_iwae_bracket_the_exact_log_likelihood(fitted, binary_data):
    # With one latent dimension log p(x) = log ∫ p(x|z) N(z) dz is a quadrature away.
    x = binary_data[:20]
    z = np.linspace(-8, 8, 4001)
    p = fitted.inverse_transform(z[:, None]).astype(np.float64)  # decoder probabilities
    p = np.clip(p, 1e-12, 1 - 1e-12)
    log_px_given_z = x @ np.log(p).T + (1 - x) @ np.log1p(-p).T  # (20, 4001)
    log_prior = -0.5 * z**2 - 0.5 * np.log(2 * np.pi)
    joint = log_px_given_z + log_prior
    top = joint.max(axis=1, keepdims=True)
    exact = top[:, 0] + np.log(np.exp(joint - top).sum(axis=1) * (z[1] - z[0]))
    elbo = fitted.score_samples(x, n_samples=2000)
    iwae = fitted.log_likelihood(x, k=5000)
    assert np.all(elbo <= exact + 1e-3)
    assert np.all(iwae <= exact + 0.02)
    np.testing.assert_allclose(iwae, exact, atol=0.05)
    assert np.mean(exact - elbo) > 1e-3  # the ELBO's gap is real


def test_iwae_rises_with_k_and_k1_is_the_elbo(fitted, binary_data):
    # Expectations over many seeds: the draws are common to the rows of one call.
    x = binary_data[:50]

    def expected(k: int, seeds: int) -> float:
        return float(np.mean([fitted.log_likelihood(x, k=k, random_state=s) for s in range(seeds)]))

    values = [expected(1, 400), expected(10, 40), expected(500, 2)]
    assert values[0] < values[1] < values[2]
    elbo = float(np.mean(fitted.score_samples(x, n_samples=4000)))
    assert values[0] == pytest.approx(elbo, abs=0.02)  # k=1 estimates the same bound


def test_scores_are_per_row_and_deterministic(fitted, binary_data):
    x = binary_data[:30]
    full = fitted.score_samples(x)
    np.testing.assert_array_equal(full, fitted.score_samples(x))
    np.testing.assert_allclose(fitted.score_samples(x[::-1])[::-1], full, rtol=1e-12)
    np.testing.assert_allclose(
        np.concatenate([fitted.score_samples(x[:7]), fitted.score_samples(x[7:])]), full, rtol=1e-12
    )
    assert not np.array_equal(fitted.score_samples(x, random_state=5), full)
    assert fitted.score(x) == pytest.approx(full.mean())


def test_api_shapes_and_ranges(fitted, binary_data):
    latent = fitted.transform(binary_data)
    assert latent.shape == (240, 1) and latent.dtype == np.float64
    mean, log_var = fitted.encode(binary_data[:5])
    np.testing.assert_array_equal(mean, latent[:5])
    assert log_var.shape == (5, 1)
    recon = fitted.reconstruct(binary_data[:5])
    assert (
        recon.shape == (5, 16)
        and recon.dtype == np.float32
        and recon.min() >= 0
        and recon.max() <= 1
    )
    samples = fitted.sample(7, random_state=1)
    assert samples.shape == (7, 16) and np.all((samples >= 0) & (samples <= 1))
    draws = fitted.sample(7, random_state=1, mean=False)
    assert set(np.unique(draws)) <= {0.0, 1.0}
    np.testing.assert_array_equal(
        fitted.sample(3, random_state=2), fitted.sample(3, random_state=2)
    )
    # The two prototypes land on opposite sides of the one latent axis.
    prototypes = np.array([[1] * 8 + [0] * 8, [0, 1] * 8], dtype=float)
    codes = fitted.transform(prototypes)[:, 0]
    assert abs(codes[0] - codes[1]) > 1.0


def test_training_is_deterministic_under_a_seed(binary_data):
    params = {"latent_dim": 2, "hidden": (16,), "max_epochs": 3, "random_state": 7, "device": "cpu"}
    first = VariationalAutoencoder(**params).fit(binary_data)
    second = VariationalAutoencoder(**params).fit(binary_data)
    np.testing.assert_array_equal(first.transform(binary_data), second.transform(binary_data))
    assert first.history_ == second.history_
    third = VariationalAutoencoder(**{**params, "random_state": 8}).fit(binary_data)
    assert not np.array_equal(first.transform(binary_data), third.transform(binary_data))


def test_gaussian_decoder_learned_and_fixed_variance():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 1)) @ np.array([[1.0, -1.0, 0.5, 1.0]]) + rng.normal(
        0, 0.05, (200, 4)
    )
    learned = VariationalAutoencoder(
        decoder="gaussian",
        latent_dim=1,
        hidden=(32,),
        max_epochs=100,
        learning_rate=1e-2,
        random_state=0,
        device="cpu",
    ).fit(X)
    scale = torch.exp(learned.model_.log_scale).detach().numpy()
    assert scale.shape == (4,)
    assert np.all(scale < 0.25)  # learned from the initial 1: this is one-dimensional data
    residual = np.std(learned.reconstruct(X) - X, axis=0)
    assert np.all(scale > residual)  # it also covers the posterior's spread
    fixed = VariationalAutoencoder(
        decoder="gaussian",
        decoder_std=0.5,
        latent_dim=1,
        hidden=(32,),
        max_epochs=5,
        random_state=0,
        device="cpu",
    ).fit(X)
    assert fixed.model_.log_scale is None
    x, recon = X[:3], fixed.reconstruct(X[:3]).astype(np.float64)
    assert np.all(np.isfinite(fixed.score_samples(X[:3])))
    # The fixed-variance likelihood at the posterior mean, computed independently.
    stats = pytest.importorskip("scipy.stats")
    mean, log_var = fixed.encode(x)
    kl = 0.5 * np.sum(mean**2 + np.exp(log_var) - 1 - log_var, axis=1)
    zero_noise = stats.norm.logpdf(x, recon, 0.5).sum(axis=1) - kl
    # With tiny posterior variance the one-draw ELBO is close to the plug-in value.
    assert np.all(np.abs(fixed.score_samples(x, n_samples=500) - zero_noise) < 2.0)


def test_beta_and_mmd_change_the_regulariser(binary_data):
    params = {
        "latent_dim": 4,
        "hidden": (32,),
        "max_epochs": 30,
        "learning_rate": 3e-3,
        "random_state": 0,
        "device": "cpu",
    }
    plain = VariationalAutoencoder(**params).fit(binary_data)
    strong = VariationalAutoencoder(beta=8.0, **params).fit(binary_data)
    assert strong.history_["kl"][-1] < plain.history_["kl"][-1]
    info = VariationalAutoencoder(beta=0.0, mmd_weight=50.0, **params).fit(binary_data)
    assert info.history_["mmd"][-1] < info.history_["mmd"][0]
    assert plain.history_["mmd"] == [0.0] * 30


def test_kl_warmup_ramps_the_weight_from_zero(binary_data):
    params = {"latent_dim": 2, "hidden": (16,), "max_epochs": 4, "random_state": 0, "device": "cpu"}
    warm = VariationalAutoencoder(warmup_epochs=4, **params).fit(binary_data)
    history = warm.history_
    # loss = reconstruction + w * kl with w rising from 0 through the epoch: w < 1 throughout.
    for epoch in range(4):
        weight = (history["loss"][epoch] - history["reconstruction"][epoch]) / history["kl"][epoch]
        assert epoch / 4 - 0.01 < weight < (epoch + 1) / 4 + 0.01
    plain = VariationalAutoencoder(**params).fit(binary_data).history_
    np.testing.assert_allclose(
        plain["loss"], np.add(plain["reconstruction"], plain["kl"]), rtol=1e-5
    )


def test_convolutional_architecture_on_non_square_images():
    rng = np.random.default_rng(0)
    X = (rng.random((64, 2 * 7 * 5)) < 0.3).astype(float)
    model = VariationalAutoencoder(
        architecture="conv",
        image_shape=(2, 7, 5),
        channels=(4, 8),
        hidden=(16,),
        latent_dim=3,
        max_epochs=2,
        random_state=0,
        device="cpu",
    ).fit(X)
    assert model.image_shape_ == (2, 7, 5)
    assert model.reconstruct(X[:4]).shape == (4, 70)
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.model_.modules())
    with pytest.raises(InputError, match="image_shape"):
        VariationalAutoencoder(architecture="conv", max_epochs=1).fit(X)  # 70 is not a square


def test_early_stopping_restores_the_best_epoch(tmp_path, binary_data):
    model = VariationalAutoencoder(
        checkpoint=str(tmp_path / "run.pt"),
        latent_dim=2,
        hidden=(64,),
        max_epochs=200,
        learning_rate=1e-2,
        early_stopping=True,
        n_iter_no_change=5,
        validation_fraction=0.25,
        random_state=0,
        device="cpu",
    ).fit(binary_data[:80])
    curve = model.history_["validation_loss"]
    assert model.n_epochs_ < 200 and len(curve) == model.n_epochs_
    assert curve[model.best_epoch_ - 1] == min(curve)
    # The training checkpoint holds the last epoch (to resume) and the best one (the model).
    loaded = VariationalAutoencoder.load_checkpoint(tmp_path / "run.pt")
    assert model.best_epoch_ < model.n_epochs_
    np.testing.assert_array_equal(loaded.transform(binary_data), model.transform(binary_data))


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path, fitted, binary_data):
    path = tmp_path / "vae.pt"
    fitted.save_checkpoint(path)
    loaded = VariationalAutoencoder.load_checkpoint(path)
    for method in ("transform", "score_samples", "reconstruct"):
        np.testing.assert_array_equal(
            getattr(loaded, method)(binary_data), getattr(fitted, method)(binary_data)
        )
    np.testing.assert_array_equal(
        loaded.log_likelihood(binary_data[:5], k=50), fitted.log_likelihood(binary_data[:5], k=50)
    )
    assert loaded.get_params() == fitted.get_params()
    # The file is a lamina.store file of plain values and arrays (no pickle).
    assert (
        load_checkpoint(path, format="lamina-vae-checkpoint")["format"] == "lamina-vae-checkpoint"
    )
    # The lamina model format (npz, no pickle) round-trips too.
    fitted.save(tmp_path / "vae.npz")
    np.testing.assert_array_equal(
        load_model(tmp_path / "vae.npz").score_samples(binary_data),
        fitted.score_samples(binary_data),
    )


def test_resume_equals_an_uninterrupted_run(tmp_path, binary_data):
    params = {
        "latent_dim": 2,
        "hidden": (16,),
        "batch_size": 64,
        "random_state": 3,
        "device": "cpu",
        "early_stopping": True,
        "n_iter_no_change": 50,
    }
    straight = VariationalAutoencoder(max_epochs=6, **params).fit(binary_data)
    path = tmp_path / "half.pt"
    VariationalAutoencoder(max_epochs=3, checkpoint=str(path), **params).fit(binary_data)
    resumed = VariationalAutoencoder(max_epochs=6, **params).fit(binary_data, resume_from=path)
    assert resumed.n_epochs_ == 6
    assert resumed.history_ == straight.history_
    for a, b in zip(
        resumed.model_.state_dict().values(), straight.model_.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(InputError, match="latent_dim"):
        VariationalAutoencoder(max_epochs=6, **{**params, "latent_dim": 3}).fit(
            binary_data, resume_from=path
        )


class _Payload:
    """Stands for anything a checkpoint must not contain: pickling it records a call."""

    def __reduce__(self):
        return (print, ("code ran while loading a checkpoint",))


def test_a_checkpoint_holding_a_pickled_object_is_refused(tmp_path, fitted, binary_data, capsys):
    path = tmp_path / "evil.pt"
    fitted.save_checkpoint(path)
    payload = load_checkpoint(path, format="lamina-vae-checkpoint")
    payload["params"]["extra"] = _Payload()
    torch.save(payload, path)  # a pickle, as checkpoints were before lamina.store
    with pytest.raises(InputError, match=r"torch\.save pickle.*refused unread"):
        VariationalAutoencoder.load_checkpoint(path)
    with pytest.raises(InputError, match=r"torch\.save pickle.*refused unread"):
        VariationalAutoencoder(latent_dim=1, hidden=(32,), max_epochs=61, device="cpu").fit(
            binary_data, resume_from=path
        )
    assert "code ran" not in capsys.readouterr().out


def test_corrupt_or_foreign_checkpoints_are_input_errors(tmp_path, fitted):
    path = tmp_path / "vae.pt"
    fitted.save_checkpoint(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match=r"not a lamina checkpoint|is damaged"):
        VariationalAutoencoder.load_checkpoint(path)
    save_checkpoint(path, {"format": "something-else"})
    with pytest.raises(InputError, match="not a lamina-vae-checkpoint"):
        VariationalAutoencoder.load_checkpoint(path)
    fitted.save_checkpoint(path)
    payload = load_checkpoint(path, format="lamina-vae-checkpoint")
    payload["model"]["to_latent.weight"] = torch.zeros(3, 3)
    save_checkpoint(path, payload)
    with pytest.raises(InputError, match="does not fit"):
        VariationalAutoencoder.load_checkpoint(path)


def test_bad_input(binary_data):
    model = VariationalAutoencoder(max_epochs=1, device="cpu")
    with pytest.raises(NotFittedError):
        model.transform(binary_data)
    with pytest.raises(InputError, match="Bernoulli decoder needs binary data"):
        VariationalAutoencoder(decoder="bernoulli", max_epochs=1).fit(binary_data * 0.5)
    bad = binary_data.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        model.fit(bad)
    with pytest.raises(InputError, match="2D"):
        model.fit(binary_data[0])
    with pytest.raises(InputError, match="beta"):
        VariationalAutoencoder(beta=-1.0).fit(binary_data)
    with pytest.raises(InputError, match="device"):
        VariationalAutoencoder(device="tpu").fit(binary_data)
    model.fit(binary_data)
    with pytest.raises(InputError, match="X has 15 features"):
        model.transform(binary_data[:, :15])
    with pytest.raises(InputError, match="latent space"):
        model.inverse_transform(np.zeros((2, 3)))


def test_scikit_learn_protocol(binary_data):
    base = pytest.importorskip("sklearn.base")
    model = VariationalAutoencoder(
        latent_dim=2, hidden=(8,), max_epochs=2, random_state=0, device="cpu"
    )
    clone = base.clone(model)
    assert clone.get_params() == model.get_params() and clone is not model
    latent = clone.fit_transform(binary_data)
    np.testing.assert_array_equal(latent, clone.transform(binary_data))
    np.testing.assert_array_equal(model.fit(binary_data).transform(binary_data), latent)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).transform(binary_data), latent)
    assert model.set_params(beta=2.0).beta == 2.0


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_scikit_learn_check_estimator_at_defaults():
    # #15: 24 checks failed at defaults (the Bernoulli decoder refused real data);
    # decoder="auto" follows the data, as a scikit-learn user expects.
    checks = pytest.importorskip("sklearn.utils.estimator_checks")
    results = checks.check_estimator(VariationalAutoencoder(), on_fail=None)
    failed = [
        (r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"
    ]
    assert failed == []
    assert not [r for r in results if r["status"] == "xfail"]


def test_auto_decoder_follows_the_data(tmp_path, binary_data):
    params = {"latent_dim": 1, "hidden": (8,), "max_epochs": 2, "random_state": 0, "device": "cpu"}
    binary = VariationalAutoencoder(**params).fit(binary_data)
    real = VariationalAutoencoder(**params).fit(binary_data * 0.8 + 0.1)
    assert binary.decoder_ == "bernoulli" and binary.model_.log_scale is None
    assert real.decoder_ == "gaussian" and real.model_.log_scale is not None
    with pytest.raises(InputError, match="Bernoulli"):
        binary.score_samples(binary_data * 0.5)  # fitted Bernoulli: real data is refused
    assert np.isfinite(real.score_samples(binary_data)).all()
    for model in (binary, real):  # both file formats keep the choice
        model.save_checkpoint(tmp_path / "m.pt")
        assert VariationalAutoencoder.load_checkpoint(tmp_path / "m.pt").decoder_ == model.decoder_
        model.save(tmp_path / "m.npz")
        assert load_model(tmp_path / "m.npz").decoder_ == model.decoder_


@pytest.mark.gpu
def test_cuda_training_and_a_checkpoint_moved_to_the_cpu(tmp_path, binary_data):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model = VariationalAutoencoder(
        latent_dim=2, hidden=(16,), max_epochs=3, random_state=0, device="cuda"
    ).fit(binary_data)
    assert model.device_.startswith("cuda")
    assert np.all(np.isfinite(model.score_samples(binary_data)))
    model.save_checkpoint(tmp_path / "gpu.pt")
    on_cpu = VariationalAutoencoder.load_checkpoint(tmp_path / "gpu.pt", device="cpu")
    assert on_cpu.device_ == "cpu"
    np.testing.assert_allclose(
        on_cpu.transform(binary_data), model.transform(binary_data), atol=1e-5
    )
