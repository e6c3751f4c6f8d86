"""bench/decontamination.py runs end to end on a tiny eval set and prints its tables."""

import re

from conftest import run_bench


def test_decontamination_benchmark_tiny():
    out = run_bench("decontamination.py", "--tiny")
    assert re.search(r"^index build [\d.]+ s, RSS \+\d+ MB$", out, re.M)
    for kind in ("whole", "one word changed", "split across paragraphs"):
        row = re.search(rf"^{kind}\s+((?:[\d.]+\s+){{4}})([\d.]+)$", out, re.M)
        assert row, kind
    # a document quoting an item whole is always found, whatever the item's length
    assert re.search(r"^whole\s+1\.000\s+1\.000\s+1\.000\s+1\.000\s+1\.000$", out, re.M)
    assert re.search(r"^false positives: 0 of \d+ clean documents$", out, re.M)
    assert re.fullmatch(r"docs/s: \d+", out.strip().splitlines()[-1])
