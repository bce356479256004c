"""The VAE learner beside a plain-torch reference VAE on the bundled 8x8 digits.

Digits binarised at 0.5, a fixed 1437/360 train/test split, the 64-400-20
architecture of Kingma & Welling's MNIST example, Adam (lr 1e-3), batches of
128. Reported: test negative ELBO and importance-weighted NLL (k=1000) in nats,
and milliseconds per training epoch — the reference is written here in plain
torch (and scored here), run in the same process with the same thread count.

    python benchmarks/torch_learners.py            # 300 epochs
    python benchmarks/torch_learners.py --quick    # 20 epochs
    python benchmarks/torch_learners.py --json

The universal-approximation and classification comparisons with scikit-learn
are in ``benchmarks/approximation.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional

import lamina
from lamina.clitools import print_table
from lamina.plugins.torch_vae.data_sources import load_digits, to_rows

SPLIT_SEED = 0
#: What lamina's learner picks for this network (128 x 64 x 400 multiply-adds per layer).
THREADS = 1


def digits_split() -> tuple[np.ndarray, np.ndarray]:
    images, _ = load_digits()
    rows = (to_rows(images) > 0.5).astype(np.float32)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(rows))
    return rows[order[:1437]], rows[order[1437:]]


class ReferenceVAE(nn.Module):
    """The PyTorch examples' VAE (sigmoid outputs, summed binary cross-entropy)."""

    def __init__(self, latent: int = 20, hidden: int = 400, features: int = 64) -> None:
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, features)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.fc1(x))
        return self.fc21(h), self.fc22(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc4(torch.relu(self.fc3(z))))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar


def reference_loss(
    recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    bce = functional.binary_cross_entropy(recon, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def train_reference(train: np.ndarray, epochs: int, seed: int) -> tuple[ReferenceVAE, float]:
    torch.manual_seed(seed)
    model = ReferenceVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.from_numpy(train)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for rows in torch.randperm(len(data)).split(128):
            x = data[rows]
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = reference_loss(recon, x, mu, logvar)
            loss.backward()
            optimizer.step()
    return model.eval(), (time.perf_counter() - start) / epochs


@torch.no_grad()
def reference_scores(
    model: ReferenceVAE, test: np.ndarray, k: int, seed: int
) -> tuple[float, float]:
    """Test negative ELBO (one draw per sample, analytic KL) and IWAE-k NLL, nats."""
    torch.manual_seed(seed)
    x = torch.from_numpy(test)
    recon, mu, logvar = model(x)
    elbo = -(reference_loss(recon, x, mu, logvar) / len(x))
    std = torch.exp(0.5 * logvar)
    total = 0.0
    for i in range(len(x)):
        eps = torch.randn(k, mu.shape[1])
        z = mu[i] + std[i] * eps
        p = model.decode(z).clamp(1e-7, 1 - 1e-7)
        log_px = (x[i] * torch.log(p) + (1 - x[i]) * torch.log1p(-p)).sum(1)
        log_pz = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(1)
        log_qz = (-0.5 * eps**2 - torch.log(std[i]) - 0.5 * math.log(2 * math.pi)).sum(1)
        total += float(torch.logsumexp(log_px + log_pz - log_qz, 0) - math.log(k))
    return -float(elbo), -total / len(x)


def run_once(train: np.ndarray, test: np.ndarray, epochs: int, k: int, seed: int) -> list[dict]:
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        reference, reference_epoch = train_reference(train, epochs, seed)
        reference_elbo, reference_iwae = reference_scores(reference, test, k, seed)
    finally:
        torch.set_num_threads(previous)
    ours = lamina.create(
        "learner",
        "vae",
        latent_dim=20,
        hidden=(400,),
        batch_size=128,
        learning_rate=1e-3,
        max_epochs=epochs,
        random_state=seed,
        device="cpu",
    )
    start = time.perf_counter()
    ours.fit(train)
    ours_epoch = (time.perf_counter() - start) / epochs
    return [
        {
            "implementation": "plain torch reference",
            "seed": seed,
            "test_neg_elbo": reference_elbo,
            f"test_nll_iwae_{k}": reference_iwae,
            "ms_per_epoch": 1000 * reference_epoch,
        },
        {
            "implementation": "lamina vae",
            "seed": seed,
            "test_neg_elbo": -ours.score(test),
            f"test_nll_iwae_{k}": -float(np.mean(ours.log_likelihood(test, k=k))),
            "ms_per_epoch": 1000 * ours_epoch,
        },
    ]


def run(epochs: int, k: int, seeds: int) -> dict:
    """Both implementations for seeds 0..seeds-1; rows are the means over seeds."""
    train, test = digits_split()
    runs = [row for seed in range(seeds) for row in run_once(train, test, epochs, k, seed)]
    rows = []
    for name in ("plain torch reference", "lamina vae"):
        mine = [r for r in runs if r["implementation"] == name]
        rows.append(
            {
                "implementation": name,
                **{
                    key: float(np.mean([r[key] for r in mine]))
                    for key in ("test_neg_elbo", f"test_nll_iwae_{k}", "ms_per_epoch")
                },
            }
        )
    return {
        "benchmark": "vae-digits",
        "seeds": seeds,
        "per_seed": runs,
        "epochs": epochs,
        "train": len(train),
        "test": len(test),
        "iwae_k": k,
        "torch": torch.__version__,
        "threads": THREADS,
        "machine": platform.processor() or platform.machine(),
        "rows": rows,
        "ratios": {
            "neg_elbo_lamina_minus_reference": rows[1]["test_neg_elbo"] - rows[0]["test_neg_elbo"],
            "nll_lamina_minus_reference": rows[1][f"test_nll_iwae_{k}"]
            - rows[0][f"test_nll_iwae_{k}"],
            "time_per_epoch_lamina_over_reference": rows[1]["ms_per_epoch"]
            / rows[0]["ms_per_epoch"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 epochs and k=100: a smoke run")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=1, help="average over seeds 0..N-1")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    epochs = args.epochs or (20 if args.quick else 300)
    result = run(epochs, 100 if args.quick else 1000, args.seeds)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    k = result["iwae_k"]
    print_table(
        f"VAE on binarised digits ({result['train']}/{result['test']}), 64-400-20, {epochs} epochs, "
        f"{result['threads']} thread(s), mean of {result['seeds']} seed(s)",
        ["implementation", "test -ELBO (nats)", f"test NLL IWAE k={k}", "ms / epoch"],
        [
            (
                r["implementation"],
                f"{r['test_neg_elbo']:.2f}",
                f"{r[f'test_nll_iwae_{k}']:.2f}",
                f"{r['ms_per_epoch']:.1f}",
            )
            for r in result["rows"]
        ],
    )
    ratios = result["ratios"]
    print(
        f"lamina - reference: {ratios['neg_elbo_lamina_minus_reference']:+.2f} nats (-ELBO), "
        f"{ratios['nll_lamina_minus_reference']:+.2f} nats (NLL); time per epoch x"
        f"{ratios['time_per_epoch_lamina_over_reference']:.2f}"
    )


if __name__ == "__main__":
    main()
