"""SIGKILL `refinery run` at several points, rerun the same command: the final documents, stats and token
shards are identical to an uninterrupted run's (nothing lost, nothing duplicated, each document counted once)."""

import glob
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, refinery
from test_determinism import fingerprint, split_warc


def phase_started(phase):
    return lambda out: os.path.isdir(os.path.join(out, "logs", phase))


def one_task_done(phase):
    return lambda out: len(glob.glob(os.path.join(out, "logs", phase, "completions", "*"))) >= 1


POINTS = {
    "extraction": one_task_done("curate"),  # curate phase: some tasks finished, others mid-extraction
    "dedup": phase_started("dedup_buckets"),
    # some tasks finished, the others still need their work/filtered/ files, deleted only once the run is done
    "finalize": one_task_done("finalize"),
    "shards": phase_started("tokenize"),
}


@pytest.fixture(scope="module")
def inputs(sample_run, tmp_path_factory):
    base = tmp_path_factory.mktemp("kill")
    sample = glob.glob(os.path.join(sample_run[0], "sample", "*.warc.gz"))[0]
    parts = split_warc(sample, str(base), 4)
    clean = str(base / "clean")
    refinery("run", "configs/sample.yaml", "--input", *parts, "--output", clean, "--tasks", "4", "--workers", "1")
    return parts, fingerprint(clean)


@pytest.mark.parametrize("point", list(POINTS))
def test_sigkill_then_rerun_gives_the_uninterrupted_result(inputs, tmp_path, point):
    parts, want = inputs
    out = str(tmp_path / "run")
    args = [sys.executable, "-m", "pipeline.cli", "run", "configs/sample.yaml", "--input", *parts, "--output", out,
            "--tasks", "4", "--workers", "1"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    reached = POINTS[point]
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline and not reached(out):
        time.sleep(0.01)
    assert proc.poll() is None, f"the run ended before reaching {point}"
    os.killpg(proc.pid, signal.SIGKILL)  # the run and every worker it started
    proc.wait()
    assert not os.path.exists(os.path.join(out, "shards", "manifest.json")) or point == "shards"
    refinery("run", "configs/sample.yaml", "--input", *parts, "--output", out, "--tasks", "4", "--workers", "1")
    got = fingerprint(out)
    assert got["stats"] == want["stats"]
    assert got["documents"] == want["documents"]
    assert got["manifest"] == want["manifest"] and got["shards"] == want["shards"]
    assert refinery("verify", out).returncode == 0
