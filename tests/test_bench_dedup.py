"""bench/dedup_quality.py runs end to end on a tiny corpus and prints its tables."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_dedup_benchmark_tiny():
    proc = subprocess.run(
        [sys.executable, "bench/dedup_quality.py", "--tiny"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    # quality: one row per Jaccard bin, then the false-positive rate
    assert "== quality:" in out and "recall" in out and "LSH P(mean)" in out
    for center in ("0.5", "0.6", "0.7", "0.8", "0.9", "1.0"):
        assert re.search(rf"^\s+{re.escape(center)}\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+", out, re.M), f"bin {center}"
    assert re.search(r"^false positives: \d+ of \d+ unrelated documents removed, rate [\d.]+$", out, re.M)
    # throughput of both signature steps
    assert re.search(r"^refinery MinhashSignatureStep\s+[\d.]+\s+\d+$", out, re.M)
    assert re.search(r"^datatrove MinhashDedupSignature\s+[\d.]+\s+\d+$", out, re.M)
    # memory table: one row per size
    assert "== memory per phase" in out
    for size in (300, 600):
        assert re.search(rf"^\s+{size}\s+\d+ \|", out, re.M), f"memory row {size}"
    assert re.search(r"^growth 300 -> 600 docs: buckets peak", out, re.M)
    # exact and URL dedup: one row per size, with planted copies and URL spellings removed
    assert "== exact and URL dedup" in out
    for size in (300, 600):
        row = re.search(rf"^\s+{size} \|\s+\d+\s+\d+\s+\d+ \|\s+(\d+)\s+(\d+) \|", out, re.M)
        assert row and int(row.group(1)) > 0 and int(row.group(2)) > 0, f"key row {size}"
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio refinery/datatrove signature docs/s: \d+\.\d\d", last), last
