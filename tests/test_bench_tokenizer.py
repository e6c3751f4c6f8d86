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
    # both sides wrote every document, with the same token ids
    rows = next(line for line in out.splitlines() if line.startswith("rows written:"))
    assert rows.endswith("same ids and token ids: yes"), rows
    counts = rows.split(";")[0].replace(",", "").replace("(", " ").split()
    assert len({w for w in counts if w.isdigit()}) == 1, rows
