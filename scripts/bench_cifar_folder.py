"""Load times of CIFAR from a class-folder tree: the first load (scan, content hash, parallel decode, cache write), the
decode alone by executor (serial, threads, processes), and the cached load a later run pays.

    python scripts/bench_cifar_folder.py --root /work/data/cifar10-jpeg --out results/cifar10_student/data_load.json
    python scripts/bench_cifar_folder.py --root ... --decode-only 10000 --repeats 9 --out ...   # executors only

Every first load starts from an empty cache folder (a temp dir); the files themselves stay in the OS page cache (the
tree is read once before timing), as on a machine that has just unpacked them. A cached load is what a run pays
after the first: ``with_data_source`` (scan + listing, hash from the cache) then ``build_dataset`` (scan + listing
again, the arrays from the cache).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.data import build_dataset
from bench.data import cifar_folder as cf
from bench.data.source import content_hash, with_data_source


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def first_load(name: str, root: str) -> dict:
    """The first run on a tree: source fingerprint (scan + hash of every file) then build (scan, decode, cache)."""
    with tempfile.TemporaryDirectory() as cache:
        ds = {"name": name, "root": root, "cache_dir": cache}
        cfg, t_source = timed(lambda: with_data_source({"dataset": ds}))
        splits, t_build = timed(
            lambda: build_dataset(name, root=root, cache_dir=cache, source=cfg["dataset"]["source"])
        )
        _, t_cached_source = timed(lambda: with_data_source({"dataset": ds}))
        _, t_cached_build = timed(lambda: build_dataset(name, root=root, cache_dir=cache))
        return {
            "source": cfg["dataset"]["source"],
            "n_train": splits.n_train,
            "n_test": int(splits.test_y.numel()),
            "first_source_s": t_source,
            "first_build_s": t_build,
            "first_total_s": t_source + t_build,
            "cached_total_s": t_cached_source + t_cached_build,
        }


def decode_times(files: list[str], workers: int, repeats: int) -> dict:
    """Seconds to decode ``files`` with each executor (no cache), ``repeats`` rounds; the executors' order rotates
    from round to round, and each round's parallel/serial ratios are kept (the machine's speed drifts between
    rounds more than within one)."""
    variants = {"serial": (1, "threads"), "threads": (workers, "threads"), "processes": (workers, "processes")}
    names = list(variants)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(repeats):
        for key in names[r % 3 :] + names[: r % 3]:
            w, kind = variants[key]
            times[key].append(timed(lambda w=w, kind=kind: cf.decode_parallel(files, w, kind))[1])
    out = {k: {"median_s": statistics.median(v), "all_s": v} for k, v in times.items()}
    for key in ("threads", "processes"):
        ratios = [a / b for a, b in zip(times[key], times["serial"])]
        out[key]["vs_serial_median"] = statistics.median(ratios)
        out[key]["vs_serial_all"] = ratios
    return out


def cached_loads(name: str, root: str, repeats: int) -> dict:
    """A later run's data cost: source from the cache + build from the cache, ``repeats`` times."""
    with tempfile.TemporaryDirectory() as cache:
        ds = {"name": name, "root": root, "cache_dir": cache}
        build_dataset(name, root=root, cache_dir=cache)
        source_s, build_s = [], []
        for _ in range(repeats):
            cfg, t_source = timed(lambda: with_data_source({"dataset": ds}))
            source = cfg["dataset"]["source"]
            _, t_build = timed(lambda source=source: build_dataset(name, root=root, cache_dir=cache, source=source))
            source_s.append(t_source)
            build_s.append(t_build)
        total = [a + b for a, b in zip(source_s, build_s)]
        return {"source_s": source_s, "build_s": build_s, "total_s": total, "median_total_s": statistics.median(total)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="a class-folder tree (train/<class>/*, test/<class>/*)")
    ap.add_argument("--dataset", default="cifar10", choices=("cifar10", "cifar100"))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeats", type=int, default=2, help="rounds of the decode-only and first-load timings")
    ap.add_argument("--cached-repeats", type=int, default=5)
    ap.add_argument("--decode-only", type=int, metavar="N", help="only time decoding the first N files by executor")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = ap.parse_args()

    tree = cf.scan_tree(args.root)
    _, t_read = timed(lambda: content_hash(Path(args.root), [row[0] for row in tree.listing]))  # warms the page cache
    result = {
        "root": str(Path(args.root).resolve()),
        "n_files": len(tree.listing),
        "bytes": sum(row[1] for row in tree.listing),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "workers": args.workers,
        "platform": platform.platform(),
        "loadavg_start": os.getloadavg(),
        "read_and_hash_all_files_s": t_read,
    }
    files = tree.files["train"] + tree.files["test"]
    if args.decode_only:
        result["decode_files"] = args.decode_only
        result["decode"] = decode_times(files[: args.decode_only], args.workers, args.repeats)
    else:
        result["decode_files"] = len(files)
        result["decode"] = decode_times(files, args.workers, args.repeats)
        result["first_load"] = [first_load(args.dataset, args.root) for _ in range(args.repeats)]
        result["cached_load"] = cached_loads(args.dataset, args.root, args.cached_repeats)
    result["loadavg_end"] = os.getloadavg()
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
