"""bench/report_memory.py: the --tiny run writes its synthetic finished runs (which `refinery verify` must accept,
or the bench fails), measures stats, stats --by-language, verify and report on each and prints the table."""

import re

from conftest import run_bench


def test_report_memory_tiny(tmp_path):
    out = run_bench("report_memory.py", "--tiny", "--work", str(tmp_path), timeout=600)
    assert re.search(r"^code\s+command\s+RSS MB @2,000\s+s @2,000\s+RSS MB @6,000\s+s @6,000\s+RSS growth\s+per-doc$",
                     out, re.M), out
    for name in ("stats", "stats --by-language", "verify", "report"):
        m = re.search(rf"^this\s+{re.escape(name)}\s+([\d,]+)\s+([\d.]+)\s+([\d,]+)\s+([\d.]+)\s+([+-]\d+)%\s+([+-]\d+)%$",
                      out, re.M)
        assert m, (name, out)
        small, large = int(m[1].replace(",", "")), int(m[3].replace(",", ""))
        assert small > 20 and large > 20, m[0]  # a Python process with pyarrow: tens of MB at least
        assert abs(int(m[5]) - 100 * (large - small) / small) <= 1, m[0]  # the growth printed is the growth
    assert (tmp_path / "report.html").stat().st_size > 10_000  # the report of the larger run
