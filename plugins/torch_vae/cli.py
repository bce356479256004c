"""``lamina vae``: train a VAE on images and write pictures of what it learned.

Torch is imported only when the command runs (through :func:`lamina.create`),
so ``lamina vae --help`` works without it and a run without it fails with the
install hint.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import numpy as np

import lamina
from lamina.clitools import (
    check_output_file,
    check_output_folder,
    emit_json,
    finite_float,
    json_option,
    limited,
    parse_settings,
    print_table,
    set_option,
)
from lamina.errors import InputError
from lamina.io import tile_images, write_image, write_json
from lamina.plugins.torch_vae.data_sources import (
    from_rows,
    load_digits,
    load_images,
    to_rows,
)

__all__ = ["vae"]


def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    count = round(test_fraction * n)
    return np.sort(order[count:]), np.sort(order[:count])


def _traversal(model: Any, dims: list[int], steps: int, span: float) -> np.ndarray:
    """Decoded codes varying one latent coordinate at a time over [-span, span],
    the others at the prior mean: one row per coordinate."""
    values = np.linspace(-span, span, steps)
    codes = np.zeros((len(dims) * steps, model.latent_dim))
    for row, dim in enumerate(dims):
        codes[row * steps : (row + 1) * steps, dim] = values
    return model.inverse_transform(codes)


@click.command()
@click.option(
    "--data",
    default="digits",
    show_default=True,
    help="'digits' (bundled 8x8 digits), a .npy stack (N, H, W[, C]) or a folder of images.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("vae-out"),
    show_default=True,
    help="Folder for the PNGs, metrics.json and model.pt.",
)
@click.option("--epochs", type=int, default=100, show_default=True)
@click.option(
    "--latent", "latent_dim", type=int, default=8, show_default=True, help="Latent dimension."
)
@click.option(
    "--architecture", type=click.Choice(["mlp", "conv"]), default="mlp", show_default=True
)
@click.option(
    "--decoder",
    type=click.Choice(["auto", "bernoulli", "gaussian"]),
    default="auto",
    show_default=True,
    help="auto: Bernoulli for binary data, else Gaussian.",
)
@click.option(
    "--binarize",
    type=finite_float(),
    default=None,
    help="Threshold images at this value first [default: 0.5 for digits].",
)
@click.option(
    "--test-fraction",
    type=finite_float(0, 1, low_open=True, high_open=True),
    default=0.2,
    show_default=True,
    help="Held out for the test metrics.",
)
@click.option(
    "--iwae-k",
    type=int,
    default=500,
    show_default=True,
    help="Importance samples for the test log-likelihood.",
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Training checkpoint, written every 10 epochs and at the end [default: OUT/model.pt].",
)
@click.option(
    "--resume",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Continue training from this checkpoint.",
)
@click.option(
    "--zoom",
    type=limited("MAX_PREVIEW_ZOOM"),
    default=4,
    show_default=True,
    help="Pixel enlargement in the PNGs.",
)
@click.option(
    "--traverse",
    type=limited("MAX_TRAVERSE_LATENTS"),
    default=8,
    show_default=True,
    help="Latent coordinates shown in traversal.png (those with the largest KL).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@set_option
@json_option
def vae(
    data: str,
    out_dir: Path,
    epochs: int,
    latent_dim: int,
    architecture: str,
    decoder: str,
    binarize: float | None,
    test_fraction: float,
    iwae_k: int,
    checkpoint: Path | None,
    resume: Path | None,
    zoom: int,
    traverse: int,
    seed: int,
    settings: tuple[str, ...],
    as_json: bool,
) -> None:
    """Train a variational autoencoder on images; write reconstructions.png,
    samples.png, traversal.png, metrics.json and the checkpoint model.pt to OUT.

    \b
      lamina vae --epochs 200 --out vae-digits
      lamina vae --architecture conv --latent 2 --out vae-conv
      lamina vae --data faces.npy --decoder gaussian --set beta=4 --out vae-beta
    """
    check_output_folder(out_dir, name="--out")
    if checkpoint is not None and checkpoint.parent != out_dir:  # OUT itself is made
        check_output_file(checkpoint, name="--checkpoint")
    if data == "digits":
        images, _ = load_digits()
        binarize = 0.5 if binarize is None else binarize
    else:
        images = load_images(data)
    if binarize is not None:
        images = (images > binarize).astype(np.float32)
    rows = to_rows(images)
    binary = bool(np.all((rows == 0) | (rows == 1)))
    if decoder == "auto":
        decoder = "bernoulli" if binary else "gaussian"
    train, test = _split(len(rows), test_fraction, seed)
    if len(train) < 2 or len(test) < 1:
        raise InputError(
            f"{len(rows)} images are too few to split with --test-fraction {test_fraction}"
        )
    height, width, channels = images.shape[1:]
    params: dict[str, Any] = {
        "latent_dim": latent_dim,
        "architecture": architecture,
        "decoder": decoder,
        "max_epochs": epochs,
        "random_state": seed,
        "verbose": True,
        "checkpoint": str(checkpoint or out_dir / "model.pt"),
        **parse_settings(settings),
    }
    if architecture == "conv":
        params["image_shape"] = (channels, height, width)
    model = lamina.create("learner", "vae", **params)
    model.validate_params()
    start = time.perf_counter()
    model.fit(rows[train], resume_from=resume)
    seconds = time.perf_counter() - start
    if checkpoint is not None:
        model.save_checkpoint(out_dir / "model.pt")

    shape = (height, width, channels)
    shown = rows[test[:32]]
    pairs = np.empty((2 * len(shown), rows.shape[1]), dtype=np.float32)
    pairs[0::2], pairs[1::2] = shown, model.reconstruct(shown)
    # Originals and reconstructions side by side: 8 pairs per row.
    write_image(
        out_dir / "reconstructions.png", tile_images(from_rows(pairs, shape), 16, zoom=zoom)
    )
    samples = model.sample(64, random_state=seed)
    write_image(out_dir / "samples.png", tile_images(from_rows(samples, shape), 8, zoom=zoom))
    mean, log_var = model.encode(rows[train])
    kl_per_dim = 0.5 * np.mean(mean**2 + np.exp(log_var) - 1.0 - log_var, axis=0)
    dims = [int(d) for d in np.argsort(-kl_per_dim)[: min(traverse, latent_dim)]]
    steps = 9
    traversal = _traversal(model, dims, steps, 3.0)
    write_image(
        out_dir / "traversal.png", tile_images(from_rows(traversal, shape), steps, zoom=zoom)
    )

    metrics = {
        "data": data,
        "images": len(rows),
        "train": len(train),
        "test": len(test),
        "image_shape": [height, width, channels],
        "decoder": decoder,
        "architecture": architecture,
        "latent_dim": latent_dim,
        "epochs": model.n_epochs_,
        "best_epoch": model.best_epoch_,
        "fit_seconds": seconds,
        "train_elbo": model.score(rows[train]),
        "test_elbo": model.score(rows[test]),
        f"test_iwae_{iwae_k}": float(np.mean(model.log_likelihood(rows[test], k=iwae_k))),
        "kl_per_dimension": [float(v) for v in kl_per_dim],
        "traversed_dimensions": dims,
        "files": [
            "reconstructions.png",
            "samples.png",
            "traversal.png",
            "metrics.json",
            "model.pt",
        ],
    }
    write_json(out_dir / "metrics.json", metrics)
    if as_json:
        emit_json(metrics)
        return
    print_table(
        f"VAE on {data} ({len(train)} train / {len(test)} test) -> {out_dir}",
        ["epochs", "train ELBO", "test ELBO", f"test IWAE k={iwae_k}", "seconds"],
        [
            (
                metrics["epochs"],
                f"{metrics['train_elbo']:.2f}",
                f"{metrics['test_elbo']:.2f}",
                f"{metrics[f'test_iwae_{iwae_k}']:.2f}",
                f"{seconds:.1f}",
            )
        ],
    )
