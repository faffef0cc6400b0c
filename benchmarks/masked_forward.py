"""Throughput of the per-sample masked forward relative to the plain forward.

A regression in the masking path (the gathers and multiplies of decore_env.gates) shows as a
falling ratio. Plain and masked passes are interleaved, so drifting machine load hits both
alike, and the figures are medians. Run it on an idle machine.

    python benchmarks/masked_forward.py                      # vgg16, resnet56, batch 256, CPU
    python benchmarks/masked_forward.py --models lenet5 --batch 64 --repeats 3
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import torch

from agents.report import command_line, hardware_info, versions
from decore_env import models
from decore_env.gates import ChannelGates

RESULTS = Path(__file__).resolve().parent / "results"


def measure(name: str, batch: int, repeats: int, device: torch.device) -> dict:
    """Median images/s of the plain and the masked forward pass, in eval mode, no grad."""
    torch.manual_seed(0)
    model = models.create(name).to(device).eval()
    x = torch.randn(batch, *models.input_shape(name), device=device)
    gates = ChannelGates(model, x[:1])
    masks = (torch.rand(batch, gates.n_agents, device=device) > 0.3).float()

    def plain() -> None:
        model(x)

    def masked() -> None:
        with gates.masked(masks):
            model(x)

    times: dict[str, list[float]] = {"plain": [], "masked": []}
    with torch.no_grad():
        for run in (plain, masked):  # warm-up
            run()
        for _ in range(repeats):
            for key, run in (("plain", plain), ("masked", masked)):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                run()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times[key].append(time.perf_counter() - start)
    plain_ips = batch / statistics.median(times["plain"])
    masked_ips = batch / statistics.median(times["masked"])
    return {
        "model": name,
        "batch": batch,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "plain_images_per_s": f"{plain_ips:.1f}",
        "masked_images_per_s": f"{masked_ips:.1f}",
        "masked_over_plain": f"{masked_ips / plain_ips:.3f}",
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vgg16", "resnet56"])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--csv", type=Path, default=RESULTS / "masked_forward.csv")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    hardware, version = hardware_info(), versions()
    command = command_line(sys.argv)
    rows = []
    for name in args.models:
        row = measure(name, args.batch, args.repeats, device)
        row.update(
            hardware=hardware.get("gpu") or hardware.get("cpu"),
            torch=version["torch"],
            commit=version.get("git_commit"),
            command=command,
        )
        rows.append(row)
        print(
            f"{name:10s} batch {args.batch}: plain {row['plain_images_per_s']:>9} img/s, "
            f"masked {row['masked_images_per_s']:>9} img/s, "
            f"masked/plain {row['masked_over_plain']}"
        )
    print(f"{device}, {torch.get_num_threads()} threads; {hardware}; torch {version['torch']}")
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    new = not args.csv.exists()
    with args.csv.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
