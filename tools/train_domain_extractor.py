"""Train a domain feature extractor for FID (``metrics.extractors.DomainCNN``) and write its card.

    python tools/train_domain_extractor.py --name mnist-cnn-v1            # about a minute on 2 CPU cores
    python tools/train_domain_extractor.py --name fashion-cnn-v1
    python tools/train_domain_extractor.py --name mnist-cnn-v1 --check    # accuracy of the committed file

Trains on the dataset's ``train`` split (54k, the benchmark's fixed split) with a fixed seed, reports
the accuracy on ``val`` (6k) and on the official ``test`` set (10k), and writes
``metrics/weights/<name>.pt`` (state_dict) and ``<name>.json`` (accuracy, sha256, setup). The
sha256 printed at the end must be pinned in ``metrics.extractors.DOMAIN_CHECKPOINTS``.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from benchmark.data import load_dataset
from benchmark.records.io import write_json
from metrics.extractors import DOMAIN_CHECKPOINTS, WEIGHTS_DIR, DomainCNN, file_sha256


@torch.no_grad()
def accuracy(net: DomainCNN, dataset) -> float:
    net.eval()
    correct = 0
    for start in range(0, len(dataset), 1000):
        x = dataset.images[start : start + 1000].float().div(255)
        correct += int((net.logits(x).argmax(1) == dataset.labels[start : start + 1000]).sum())
    return correct / len(dataset)


def train(dataset_name: str, epochs: int, batch: int, lr: float, seed: int) -> tuple[DomainCNN, float]:
    torch.manual_seed(seed)
    data = load_dataset(dataset_name, "train")
    net = DomainCNN()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(data), generator=gen)
        total = 0.0
        for i in range(0, len(perm) - batch + 1, batch):
            idx = perm[i : i + batch]
            loss = F.cross_entropy(net.logits(data.images[idx].float().div(255)), data.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
        print(f"epoch {epoch + 1}/{epochs}: train loss {total / (len(perm) // batch):.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    return net, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", choices=sorted(DOMAIN_CHECKPOINTS), default="mnist-cnn-v1")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check", action="store_true", help="evaluate the committed checkpoint instead of training")
    a = p.parse_args()
    ckpt = DOMAIN_CHECKPOINTS[a.name]
    path = WEIGHTS_DIR / ckpt.file
    val, test = load_dataset(ckpt.dataset, "val"), load_dataset(ckpt.dataset, "test")
    if a.check:
        net = DomainCNN()
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        print(f"{a.name}: val accuracy {accuracy(net, val):.4f}, test accuracy {accuracy(net, test):.4f}, "
              f"sha256 {file_sha256(path)}")
        return
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    net, wall = train(ckpt.dataset, a.epochs, a.batch, a.lr, a.seed)
    acc_val, acc_test = accuracy(net, val), accuracy(net, test)
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({k: v.contiguous() for k, v in net.state_dict().items()}, tmp)
    tmp.replace(path)
    sha = file_sha256(path)
    card = {
        "name": a.name, "dataset": ckpt.dataset, "architecture": DomainCNN.__doc__.splitlines()[0],
        "parameters": sum(p.numel() for p in net.parameters()), "feature_dim": DomainCNN.FEATURES,
        "train_split": "train (54,000, the benchmark's fixed split)", "epochs": a.epochs, "batch_size": a.batch,
        "optimizer": f"Adam lr {a.lr}", "seed": a.seed, "val_accuracy": round(acc_val, 4),
        "test_accuracy": round(acc_test, 4), "n_val": len(val), "n_test": len(test), "train_wall_s": round(wall, 1),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "file": ckpt.file,
        "bytes": path.stat().st_size, "sha256": sha,
    }
    write_json(path.with_suffix(".json"), card)
    print(f"{a.name}: val accuracy {acc_val:.4f}, test accuracy {acc_test:.4f}, {card['parameters']} parameters, "
          f"{card['bytes']} bytes, {wall:.0f} s")
    print(f"sha256 {sha}" + ("" if sha == ckpt.sha256 else "  <- pin this in metrics.extractors.DOMAIN_CHECKPOINTS"))


if __name__ == "__main__":
    main()
