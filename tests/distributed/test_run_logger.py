"""``RunLogger``: a fit's metrics land in its run directory and, with a bucket, in the bucket as it runs."""

from __future__ import annotations

import json
import pickle

import pytest
from roboact.distributed.run_logger import RunLogger, read_metrics

from roboact import storage
from tests.s3_loopback import bucket_fixture

s3_bucket = bucket_fixture("runlogger")


def _report(logger: RunLogger, step: int) -> None:
    metrics = [{"step": step, "train/loss": 1.0 / step, "rank": r, "pid": 100 + r} for r in (0, 1)]
    logger.after_report(None, metrics, None)


def _remote_rows(uri: str) -> list[dict]:
    fs, path = storage.filesystem(f"{uri}/metrics.jsonl")
    if not fs.exists(path):
        return []
    fs.invalidate_cache()
    return [json.loads(line) for line in fs.cat(path).decode().splitlines() if line.strip()]


def test_reports_are_rank_zero_rows_with_every_worker(tmp_path):
    logger = RunLogger(tmp_path / "run", tensorboard=False)
    _report(logger, 1)
    (row,) = read_metrics(tmp_path / "run")
    assert row["train/loss"] == 1.0 and "rank" not in row
    assert [w["rank"] for w in row["workers"]] == [0, 1]


@pytest.mark.timeout(120)
def test_metrics_reach_the_bucket_while_the_fit_runs(tmp_path, s3_bucket):
    """Each report is uploaded (at most every ``sync_every_s``), before the driver's exit upload."""
    uri = f"{s3_bucket}/runs/fit1"
    logger = RunLogger(tmp_path / "run", tensorboard=True, sync_uri=uri, sync_every_s=0)
    logger = pickle.loads(pickle.dumps(logger))  # as Ray ships it to the Train controller
    _report(logger, 1)
    assert [r["step"] for r in _remote_rows(uri)] == [1]
    fs, path = storage.filesystem(f"{uri}/tb")
    assert fs.ls(path), "TensorBoard events are uploaded with the metrics"
    _report(logger, 2)
    assert [r["step"] for r in _remote_rows(uri)] == [1, 2]

    throttled = RunLogger(tmp_path / "run2", tensorboard=False, sync_uri=f"{uri}2", sync_every_s=3600)
    _report(throttled, 1)
    _report(throttled, 2)  # within the interval: not sent yet
    assert [r["step"] for r in _remote_rows(f"{uri}2")] == [1]
    throttled.after_exception(None, {0: RuntimeError("worker died")})  # a failure is sent at once
    rows = _remote_rows(f"{uri}2")
    assert [r.get("step") for r in rows] == [1, 2, None] and rows[-1]["event"] == "worker_failure"


def test_a_failed_upload_does_not_stop_the_fit(tmp_path, monkeypatch, caplog):
    """The bucket going away mid-fit costs a warning; the local metrics keep growing."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    logger = RunLogger(tmp_path / "run", tensorboard=False, sync_uri="s3://gone/run", sync_every_s=0)
    with caplog.at_level("WARNING"):
        _report(logger, 1)
    assert len(read_metrics(tmp_path / "run")) == 1
    assert "could not upload" in caplog.text and "s3://gone/run" in caplog.text
