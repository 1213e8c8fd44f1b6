"""What reading a feature store from S3 costs a fit, against reading it from the local disk.

A fit's driver reads the store once and ships the arrays to its workers through the Ray object
store, so an ``s3://`` store changes only that read: the first run stages the object into the node's
cache (``roboact.storage.local_copy``), later runs check its ETag and reuse the copy. Measured, in
interleaved rounds on one synthetic store (demo-sized by default: 216 clips x 16 frames x 1280-d),
against moto's S3 server on 127.0.0.1 (no network latency: a real bucket adds its round trips):
1. ``load_fit_data`` of the local file;
2. staging the object into an empty cache (cold);
3. the ETag check of a staged copy (warm);
4. ``load_fit_data`` of the URI with the copy staged (what every rerun pays).

Usage: ``.venv/bin/python benchmarks/bench_storage.py [--rounds 8]``
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _cli import parse_args

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Args:
    clips_per_triplet: int = 6
    """clips per (subject, action, object) combination; 36 combinations (6 -> 216 clips)"""
    n_frames: int = 16
    """frames per clip"""
    visual_dim: int = 1280
    """frame feature size (the embedded EfficientNet-Lite0 encoder)"""
    rounds: int = 8
    """interleaved rounds of the four measurements"""


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(args: Args) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    root = Path(tempfile.mkdtemp(prefix="bench_storage_"))
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        ROBOACT_CACHE=str(root / "cache"),
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    sys.path.insert(0, str(REPO / "tests" / "distributed"))
    from conftest import build_feature_store  # the tests' synthetic store
    from roboact.distributed.fit_data import load_fit_data

    from roboact import storage

    try:
        features = build_feature_store(
            root / "store",
            n_frames=args.n_frames,
            visual_dim=args.visual_dim,
            text_dim=384,
            per_triplet=args.clips_per_triplet,
        )
        fs, _ = storage.filesystem("s3://bench")
        fs.mkdir("bench")
        uri = storage.upload(features, "s3://bench/features.h5")
        rows: dict[str, list[float]] = {
            "local file: load_fit_data": [],
            "s3, cold cache: stage": [],
            "s3, warm cache: ETag check": [],
            "s3, warm cache: load_fit_data": [],
        }
        for _ in range(args.rounds):
            rows["local file: load_fit_data"].append(_seconds(lambda: load_fit_data(features, "random")))
            shutil.rmtree(root / "cache", ignore_errors=True)
            rows["s3, cold cache: stage"].append(_seconds(lambda: storage.local_copy(uri)))
            rows["s3, warm cache: ETag check"].append(_seconds(lambda: storage.local_copy(uri)))
            rows["s3, warm cache: load_fit_data"].append(_seconds(lambda: load_fit_data(uri, "random")))
        size = features.stat().st_size / 2**20
        print(f"feature store {size:.1f} MiB; {args.rounds} interleaved rounds; seconds, median (min)")
        for name, values in rows.items():
            print(f"  {name:32s} {statistics.median(values):.3f} ({min(values):.3f})")
        local = statistics.median(rows["local file: load_fit_data"])
        warm = statistics.median(rows["s3, warm cache: load_fit_data"])
        print(
            f"  warm s3 / local read: {warm / local:.2f}x (the fit's steps read the object store either way)"
        )
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(parse_args(Args, __doc__))
