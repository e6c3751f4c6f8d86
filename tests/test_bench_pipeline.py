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
    rows = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(datatrove|refinery:fineweb)\s+[\d.]+\s+(\d+)\s", out, re.M)}
    assert set(rows) == {"datatrove", "refinery:fineweb"} and rows["datatrove"] > 0, out
    assert "kept URLs before dedup" in out and "refinery:fineweb stage time" in out and "peak RSS MB" in out
    ratio = re.search(r"^ratio refinery/datatrove docs/s: (\d+\.\d\d)$", out, re.M)
    assert ratio and float(ratio.group(1)) > 0


def test_pipeline_benchmark_scale_with_two_configs(tmp_path):
    import os
    import shutil

    import pytest

    data = os.path.join(ROOT, "..", "shared", "data", "warc")
    if not all(os.path.isdir(os.path.join(data, d)) for d in ("assembled", "cc", "other-real")):
        pytest.skip("../shared/data/warc (assembled, cc, other-real) is absent")
    second = shutil.copy(os.path.join(ROOT, "configs", "fineweb.yaml"), tmp_path / "fast.yaml")  # a stand-in
    proc = subprocess.run(
        [sys.executable, "bench/pipeline_vs_datatrove.py", "--scale", "24", "--tasks", "1", "--workers", "1",
         "--config", "configs/fineweb.yaml", "--config", str(second), "--keep", str(tmp_path / "run")],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "--scale 24: 4 files built from 480 distinct real pages" in out, out
    rows = {m.group(1): (int(m.group(2)), float(m.group(3)), float(m.group(4)))
            for m in re.finditer(r"^(datatrove|refinery:\S+)\s+[\d.]+\s+(\d+)\s+[\d.]+\s+[\d.]+\s+(\d+)\s+\d+\s+([\d.]+)\s",
                                 out, re.M)}
    assert set(rows) == {"datatrove", "refinery:fineweb", "refinery:fast"}, out
    # every copy read; RSS measured; CPU time of the process tree measured (well above a bare interpreter's)
    assert all(docs == 24 and rss > 50 and cpu > 1 for docs, rss, cpu in rows.values()), rows
    for name in ("fineweb", "fast"):
        assert re.search(rf"^ratio refinery:{name}/datatrove docs/s: \d+\.\d\d   docs per CPU second: \d+\.\d\d   "
                         rf"jaccard before dedup [01]\.\d{{3}}$", out, re.M)
        assert f"refinery:{name} kept URLs before dedup" in out
    # unique URLs: every document of the scaled input carries its own bench_copy parameter
    from warcio.archiveiterator import ArchiveIterator

    urls = []
    for path in sorted((tmp_path / "run" / "scaled").glob("*.warc.gz")):
        with open(path, "rb") as f:
            urls += [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(f) if r.rec_type == "response"]
    assert len(urls) == 24 and len(set(urls)) == 24 and all("bench_copy=" in u for u in urls)
    assert "refinery:fineweb kept pages final (bench_copy removed)" in out
    assert re.search(r"^ratio refinery/datatrove docs/s: (\d+\.\d\d)$", out.splitlines()[-1])
