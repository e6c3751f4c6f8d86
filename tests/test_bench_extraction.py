"""Smoke test of bench/extraction_quality.py on the first pages of each real extraction benchmark."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTRACTION = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "extraction"))
EXTRACTORS = ("refinery", "trafilatura-fineweb", "trafilatura-defaults", "resiliparse", "resiliparse+filter",
              "resiliparse+fallback", "fast+trafilatura", "fast+trafilatura-full", "fast")


def test_extraction_benchmark_smoke():
    if not os.path.isdir(EXTRACTION):
        pytest.skip(f"real test data not present: {EXTRACTION}")
    proc = subprocess.run(
        [sys.executable, "bench/extraction_quality.py", "--limit", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    lines = proc.stdout.splitlines()

    header = next((line for line in lines if line.split()[:2] == ["dataset", "extractor"]), None)
    assert header is not None, proc.stdout
    columns = header.split()
    for column in ("pages", "empty", "P", "R", "F1", "pages/s"):
        assert column in columns, header
    rows = [line.split() for line in lines if line.split()[:1] in (["aeb"], ["evaldata"])]
    rows = [row for row in rows if len(row) == len(columns)]
    assert {(r[0], r[1]) for r in rows} == {
        (d, e) for d in ("aeb", "evaldata") for e in EXTRACTORS
    }, proc.stdout
    for row in rows:
        values = dict(zip(columns, row))
        assert values["pages"] == "3"
        for metric in ("P", "R", "F1"):
            assert 0.0 <= float(values[metric]) <= 1.0, row
        assert float(values["pages/s"]) > 0, row

    assert any(line.startswith("ratio refinery/trafilatura pages/s: ") for line in lines), proc.stdout
    ratio = next(line for line in lines if line.startswith("ratio refinery/trafilatura pages/s: "))
    assert float(ratio.rsplit(":", 1)[1]) > 0
    assert any(line.startswith("F1 delta refinery-trafilatura (aeb): ") for line in lines), proc.stdout
    # one line per extractor: its speed against refinery's (trafilatura, FineWeb's settings) and its F1 deltas
    for name in EXTRACTORS:
        line = next((ln for ln in lines if ln.split()[:2] == [name, "pages/s"]), None)
        assert line is not None, (name, proc.stdout)
        assert float(line.split("x", 1)[1].split()[0]) > 0, line
        assert "aeb " in line and "evaldata " in line, line


def test_extraction_benchmark_missing_data(tmp_path):
    proc = subprocess.run(
        [sys.executable, "bench/extraction_quality.py", "--data", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "no extraction benchmarks" in proc.stderr
