"""The whole pipeline on the real archives in ../shared/data (skipped when absent): Common Crawl excerpts,
other real crawls, the 223-page mini-crawl and the 33 malformed archives, in one run of FineWeb's config."""

import os

import pytest

from conftest import SHARED, refinery
from test_pipeline import check_accounting


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    warc = os.path.join(SHARED, "warc")
    if not os.path.isdir(warc):
        pytest.skip("real test data not present: ../shared/data/warc")
    out = str(tmp_path_factory.mktemp("real") / "run")
    proc = refinery("run", "configs/fineweb.yaml", "--input", warc, "--tasks", "4", "--workers", "2", "--output", out,
                    check=False)
    # edge/ holds archives nothing can be read from (lz4, a fragment with no header): more than
    # input.max_failed_fraction (1%) of the folder's files, so the run ends with exit status 1, everything written
    assert proc.returncode == 1 and "input files failed" in proc.stderr.splitlines()[-1], proc.stderr[-3000:]
    return out


def test_real_warcs_accounting_and_output(real_run):
    stats = check_accounting(real_run)
    by_name = {s["name"]: s for s in stats["stages"]}
    assert by_name["read"]["in"] > 1000
    assert by_name["read"]["dropped"]["not_response"] > 500
    assert by_name["read"]["dropped"]["truncated"] >= 1  # clipped.warc.gz: warcio returns it short, silently
    assert by_name["language"]["dropped"]["wrong_language"] > 50  # Chinese, Japanese, German ... pages
    assert by_name["pii"]["kept"] > 100
    failed = {os.path.basename(e["file"]) for e in stats["errors"]}
    assert {"block-sized-records.warc.lz4", "fragment2_no_header.wet.gz"} <= failed
    assert all(e["error"] for e in stats["errors"])
    assert "commoncrawl-2008-small-sample-1213893279526_0.arc" not in failed  # read whole (146 records)


def test_stats_table_matches_json(real_run):
    table = refinery("stats", real_run).stdout
    stats = check_accounting(real_run)
    for stage in stats["stages"]:
        line = next(ln for ln in table.splitlines() if ln.startswith(stage["name"] + " "))
        assert [c.replace(",", "") for c in line.split()[1:3]] == [str(stage["in"]), str(stage["kept"])]
