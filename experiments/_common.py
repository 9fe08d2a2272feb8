"""Shared command-line handling and output for the experiment scripts."""

import argparse
import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")


def parser(description: str, *, seeds: int, out: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--seeds", type=int, default=seeds, help=f"independent runs (default {seeds})"
    )
    p.add_argument("--out", default=out, help=f"output folder (default {out})")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    return p


def out_dir(path: str) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
