"""Smoke test of bench/tokenizer_speed.py: the --tiny run ends cleanly and prints its table and ratio lines."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_tokenizer_speed_tiny():
    proc = subprocess.run([sys.executable, "bench/tokenizer_speed.py", "--tiny"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for needle in ("tokenizer training time (s)", "shard writing MB/s", "ratio refinery/direct tokenizer training time: ",
                   "ratio refinery/direct shard MB/s: ", "overhead tokenizer training: ", "overhead shard writing: ",
                   "tokenizer.json identical (refinery vs direct): yes"):
        assert needle in out, (needle, out)
    # both sides wrote every document
    rows = next(line for line in out.splitlines() if line.startswith("rows written:"))
    nums = [w.strip(",()") for w in rows.split() if w.strip(",()").replace(",", "").isdigit()]
    assert len(set(nums)) == 1, rows
