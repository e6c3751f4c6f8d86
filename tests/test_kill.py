"""SIGKILL `refinery run` at several points, rerun the same command: the final documents, stats and token
shards are identical to an uninterrupted run's (nothing lost, nothing duplicated, each document counted once).
The unit of resume is the input file: a rerun after a kill mid-curation reads only the files not yet done."""

import glob
import json
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


def completed(out, phase):
    return sorted(os.listdir(os.path.join(out, "logs", phase, "completions"))) \
        if os.path.isdir(os.path.join(out, "logs", phase, "completions")) else []


def one_task_done(phase):
    return lambda out: len(completed(out, phase)) >= 1


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


def kill_at(parts, out, reached, what, tasks="4"):
    args = [sys.executable, "-m", "pipeline.cli", "run", "configs/sample.yaml", "--input", *parts, "--output", out,
            "--tasks", tasks, "--workers", "1"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline and not reached(out):
        time.sleep(0.01)
    assert proc.poll() is None, f"the run ended before reaching {what}"
    os.killpg(proc.pid, signal.SIGKILL)  # the run and every worker it started
    proc.wait()


@pytest.mark.parametrize("point", list(POINTS))
def test_sigkill_then_rerun_gives_the_uninterrupted_result(inputs, tmp_path, point):
    parts, want = inputs
    out = str(tmp_path / "run")
    kill_at(parts, out, POINTS[point], point)
    assert not os.path.exists(os.path.join(out, "shards", "manifest.json")) or point == "shards"
    refinery("run", "configs/sample.yaml", "--input", *parts, "--output", out, "--tasks", "4", "--workers", "1")
    got = fingerprint(out)
    assert got["stats"] == want["stats"]
    assert got["documents"] == want["documents"]
    assert got["manifest"] == want["manifest"] and got["shards"] == want["shards"]
    assert refinery("verify", out).returncode == 0


def test_a_rerun_after_a_kill_mid_curation_reads_only_the_files_left(inputs, tmp_path):
    """Killed once some input files are curated, the rerun reads the others only (the read stage's `files` count
    of the rerun's curation, and its task logs), the files done keep their stats as they were, and the result is
    the uninterrupted run's: every file counted once in the funnel. With --tasks 1: the unit of work and of resume
    is the input file whatever executor.tasks says."""
    parts, want = inputs
    out = str(tmp_path / "run")
    kill_at(parts, out, one_task_done("curate"), "a curated file", tasks="1")
    done = completed(out, "curate")
    assert 1 <= len(done) < len(parts), done
    stats_dir = os.path.join(out, "logs", "curate", "stats")
    kept_stats = {n: open(os.path.join(stats_dir, f"{n}.json")).read() for n in done}
    logs_before = {n: os.path.getsize(os.path.join(out, "logs", "curate", "logs", f"task_{n}.log")) for n in done}

    refinery("run", "configs/sample.yaml", "--input", *parts, "--output", out, "--tasks", "1", "--workers", "1")
    # datatrove's logs/curate/stats.json sums the tasks this call ran: the read stage read the files left, once each
    with open(os.path.join(out, "logs", "curate", "stats.json")) as f:
        read = next(s for s in json.load(f) if s["name"] == "refinery: read")
    assert read["stats"]["files"] == len(parts) - len(done)
    assert completed(out, "curate") == [f"{i:05d}" for i in range(len(parts))]
    for n in done:  # a file done before the kill was neither read again nor counted again
        assert open(os.path.join(stats_dir, f"{n}.json")).read() == kept_stats[n]
        assert os.path.getsize(os.path.join(out, "logs", "curate", "logs", f"task_{n}.log")) == logs_before[n]
    got = fingerprint(out)
    assert got["stats"] == want["stats"]
    assert got["documents"] == want["documents"]
    assert got["manifest"] == want["manifest"] and got["shards"] == want["shards"]
    assert refinery("verify", out).returncode == 0
