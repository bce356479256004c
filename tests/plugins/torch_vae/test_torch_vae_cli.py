"""``lamina vae`` end to end on the bundled digits, and its pictures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from lamina.cli import main  # noqa: E402
from lamina.io import read_image, tile_images  # noqa: E402
from lamina.plugins.torch_vae.data_sources import from_rows, load_digits, to_rows  # noqa: E402


def test_digits_are_scikit_learns():
    datasets = pytest.importorskip("sklearn.datasets")
    images, labels = load_digits()
    reference = datasets.load_digits()
    assert images.shape == (1797, 8, 8, 1)
    np.testing.assert_array_equal(images[..., 0] * 16, reference.images)
    np.testing.assert_array_equal(labels, reference.target)


def test_rows_and_montage():
    images = np.random.default_rng(0).random((5, 3, 4, 2)).astype(np.float32)
    rows = to_rows(images)
    assert rows.shape == (5, 24)
    np.testing.assert_array_equal(rows[0, :12], images[0, :, :, 0].ravel())  # channels first
    np.testing.assert_array_equal(from_rows(rows, (3, 4, 2)), images)
    picture = tile_images(images[..., :1], 2, zoom=2, gap=1)
    assert picture.shape == (3 * 6 + 4, 2 * 8 + 3)
    np.testing.assert_array_equal(picture[1:7, 1:9], np.kron(images[0, :, :, 0], np.ones((2, 2))))


def test_vae_command_writes_pictures_metrics_and_a_checkpoint(tmp_path):
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "vae",
            "--epochs",
            "3",
            "--out",
            str(out),
            "--latent",
            "4",
            "--iwae-k",
            "20",
            "--zoom",
            "2",
            "--traverse",
            "3",
            "--json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["train"] + metrics["test"] == 1797 and metrics["decoder"] == "bernoulli"
    assert metrics["epochs"] == 3 and metrics["test_iwae_20"] >= metrics["test_elbo"] - 0.5
    assert json.loads((out / "metrics.json").read_text()) == metrics
    samples, _ = read_image(out / "samples.png")
    assert samples.shape == (8 * 16 + 9, 8 * 16 + 9)  # 8x8 tiles of 16 pixels, 1-pixel gaps
    traversal, _ = read_image(out / "traversal.png")
    assert traversal.shape == (3 * 16 + 4, 9 * 16 + 10)  # 3 latent rows, 9 steps
    recon, _ = read_image(out / "reconstructions.png")
    assert recon.shape[1] == 16 * 16 + 17
    # Resume from the written checkpoint for two more epochs.
    result = runner.invoke(
        main,
        [
            "vae",
            "--epochs",
            "5",
            "--out",
            str(tmp_path / "more"),
            "--latent",
            "4",
            "--iwae-k",
            "5",
            "--resume",
            str(out / "model.pt"),
            "--json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["epochs"] == 5


def test_conv_architecture_and_gaussian_npy_data(tmp_path):
    rng = np.random.default_rng(0)
    stack = rng.random((40, 6, 6)).astype(np.float32)
    np.save(tmp_path / "images.npy", stack)
    result = CliRunner().invoke(
        main,
        [
            "vae",
            "--data",
            str(tmp_path / "images.npy"),
            "--architecture",
            "conv",
            "--epochs",
            "1",
            "--latent",
            "2",
            "--iwae-k",
            "3",
            "--out",
            str(tmp_path / "o"),
            "--set",
            "channels=4,8",
            "--set",
            "hidden=16",
            "--json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decoder"] == "gaussian"


def test_bad_data_exits_2(tmp_path):
    np.save(tmp_path / "grey.npy", np.full((10, 4, 4), 0.5, dtype=np.float32))
    result = CliRunner().invoke(
        main,
        [
            "vae",
            "--data",
            str(tmp_path / "grey.npy"),
            "--decoder",
            "bernoulli",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2
    assert "binary data" in result.stderr
    result = CliRunner().invoke(
        main, ["vae", "--data", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
