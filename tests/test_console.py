"""What `refinery run` prints: without a terminal the funnel and a few lines, datatrove's task logs only in the log
files (or with --verbose); on a terminal a progress row per phase redrawn in place; a failed task one line."""

import glob
import os
import re
import subprocess
import sys

import yaml
from conftest import ROOT, refinery

from pipeline.cli import _count_rows
from pipeline.stats import collect_stats, format_funnel
from tests.test_pipeline import _tiny_warcs

DATATROVE_LOG_LINES = ("PIPELINE", "Launching pipeline", "Processing done", "Stats:", "| INFO ")
PHASES = ("curate", "dedup_buckets", "dedup_clusters", "finalize", "tokenize", "cleanup")


def _config(tmp_path, **output) -> str:
    cfg = {"executor": {"tasks": 2, "workers": 2}, "output": output,
           "stages": {"read": {}, "extract": {}, "language": {}, "gopher_quality": {}, "minhash_dedup": {}, "pii": {}}}
    path = tmp_path / "console.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_sample_run_without_a_terminal_prints_the_funnel_and_a_few_lines(sample_run):
    run_dir, proc, _ = sample_run
    lines = proc.stdout.splitlines() + proc.stderr.splitlines()
    funnel = format_funnel(collect_stats(run_dir), _count_rows(os.path.join(run_dir, "documents")))
    assert funnel in proc.stdout
    assert len(lines) <= len(funnel.splitlines()) + 8 and len(lines) < 40, "\n".join(lines)
    for marker in DATATROVE_LOG_LINES:
        assert marker not in proc.stdout + proc.stderr, marker
    # one line names every phase with its time and the documents it read
    (phases,) = [line for line in lines if line.startswith("phases: ")]
    assert [p.split()[0] for p in phases[len("phases: "):].split("; ")] == list(PHASES)
    assert re.search(r"curate [\d.]+s \([\d,]+ documents, [\d,]+/s\)", phases), phases
    # datatrove's task logs are all still written, one folder per phase
    for phase in PHASES:
        (log,) = glob.glob(os.path.join(run_dir, "logs", phase, "logs", "task_*.log"))
        with open(log) as f:
            text = f.read()
        assert "PIPELINE" in text and "Processing done" in text


def test_verbose_shows_datatrove_task_logs_and_a_line_per_phase(tmp_path):
    warcs = _tiny_warcs(str(tmp_path / "in"))
    proc = refinery("run", _config(tmp_path), "--input", *warcs, "--output", str(tmp_path / "run"), "--verbose")
    assert "PIPELINE" in proc.stderr and "Processing done" in proc.stderr
    for phase in ("curate", "dedup_buckets", "dedup_clusters", "finalize", "cleanup"):
        assert re.search(rf"^refinery: phase {phase} [\d.]+s", proc.stdout, re.MULTILINE), phase
    assert "refinery: phase curate" in proc.stdout and "12 documents" in proc.stdout  # 2 tasks of 6 articles


def test_a_failed_task_ends_the_run_with_one_line_and_its_traceback_stays_in_the_log(tmp_path):
    warcs = _tiny_warcs(str(tmp_path / "in"))
    cfg, out = _config(tmp_path, keep_work=True), str(tmp_path / "run")
    refinery("run", cfg, "--input", *warcs, "--output", out)
    # the finalize phase again, on a damaged intermediate file: task 1 raises, task 0 completes
    for marker in glob.glob(os.path.join(out, "logs", "finalize", "completions", "*")):
        os.remove(marker)
    with open(os.path.join(out, "work", "filtered", "00001.parquet"), "w") as f:
        f.write("not parquet")
    proc = refinery("run", cfg, "--input", *warcs, "--output", out, check=False)
    assert proc.returncode == 2
    lines = proc.stdout.splitlines() + proc.stderr.splitlines()
    assert len(lines) == 2, lines  # what was run, then why it stopped
    assert proc.stderr.splitlines() == [(f"refinery: error: phase finalize: a task failed (ArrowInvalid); its traceback "
                                         f"is in {out}/logs/finalize/logs/; rerun the same command to resume")]
    with open(os.path.join(out, "logs", "finalize", "logs", "task_00001.log")) as f:
        assert "Traceback" in f.read()


def test_on_a_terminal_each_phase_has_a_progress_row_redrawn_in_place(tmp_path):
    import pty

    warcs = _tiny_warcs(str(tmp_path / "in"))
    main, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", _config(tmp_path), "--input", *warcs,
                             "--output", str(tmp_path / "run")], cwd=ROOT, stdin=terminal, stdout=terminal,
                            stderr=terminal, env=dict(os.environ, TERM="xterm", COLUMNS="100"))
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other end closed: the run is over
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=600) == 0
    os.close(main)
    screen = b"".join(chunks).decode()
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert "\x1b[1A\x1b[2K" in screen  # rows erased and drawn again, not appended
    assert plain.count("curate ") > 2
    for phase in ("curate", "dedup_buckets", "dedup_clusters", "finalize", "cleanup"):
        assert re.search(rf"{phase}\s.*\d+/\d+ tasks", plain), phase
    assert re.search(r"curate\s.*2/2 tasks\s+12 docs\s+\d+/s", plain), plain[-3000:]
    for marker in DATATROVE_LOG_LINES:
        assert marker not in plain, marker
    assert "stage / drop reason" in plain  # the funnel after the display


def test_warnings_tasks_log_are_counted_into_one_line(tmp_path):
    warcs = _tiny_warcs(str(tmp_path / "in"), n_files=1)
    damaged = tmp_path / "in" / "damaged.warc.gz"
    damaged.write_bytes(b"this is no archive\n" * 40)
    out = str(tmp_path / "run")
    proc = refinery("run", _config(tmp_path), "--input", *warcs, str(damaged), "--output", out, check=False)
    # the file that is no archive failed: 1 of 2 is more than input.max_failed_fraction, so the run ends with 1
    assert proc.returncode == 1 and "refinery: error: 1 of 2 input files failed" in proc.stderr, proc.stderr[-3000:]
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("refinery: warning: ")]
    assert line == f"refinery: warning: tasks logged 1 warnings or errors: see {out}/logs/curate/logs/ (1)"
    assert re.search(r"curate [\d.]+s \(6 documents, [\d,]+/s, 1 warnings/errors logged\)", proc.stdout), proc.stdout
    logs = ""
    for path in glob.glob(os.path.join(out, "logs", "curate", "logs", "*.log")):
        with open(path) as f:
            logs += f.read()
    assert "WARNING" in logs and "damaged.warc.gz" in logs
    assert "input error: " in proc.stdout  # the funnel names the file too
