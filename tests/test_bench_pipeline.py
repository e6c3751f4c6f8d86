"""Smoke test: bench/pipeline_vs_datatrove.py runs both pipelines on a tiny WARC and prints its table."""

import re
import subprocess
import sys

from conftest import ROOT


def first_records(src: str, dst: str, n: int) -> str:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    with open(src, "rb") as f, open(dst, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for i, record in enumerate(ArchiveIterator(f)):
            if i == n:
                break
            writer.write_record(record)
    return dst


def test_pipeline_benchmark_prints_its_table(tmp_path):
    from pipeline.sample_data import write_sample

    warc = first_records(write_sample(str(tmp_path / "sample")), str(tmp_path / "tiny.warc.gz"), 60)
    proc = subprocess.run(
        [sys.executable, "bench/pipeline_vs_datatrove.py", "--input", warc, "--tasks", "1", "--workers", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    rows = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(datatrove|refinery)\s+[\d.]+\s+(\d+)\s", out, re.M)}
    assert set(rows) == {"datatrove", "refinery"} and rows["datatrove"] > 0, out
    assert "kept URLs before dedup" in out and "refinery stage time" in out
    ratio = re.search(r"^ratio refinery/datatrove docs/s: (\d+\.\d\d)$", out, re.M)
    assert ratio and float(ratio.group(1)) > 0
