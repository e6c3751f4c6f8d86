"""Smoke test of bench/pii_quality.py: the --tiny run ends cleanly and prints its table and summary line."""

import re

from conftest import run_bench


def test_pii_quality_tiny():
    out = run_bench("pii_quality.py", "--tiny", timeout=120)
    assert re.search(r"^type\s+labelled\s+TP\s+FN\s+partial\s+FP\s+precision\s+recall", out, re.M), out
    for kind in ("email", "ipv4", "ipv6", "phone", "all"):
        assert re.search(rf"^{kind}\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+[01]\.\d{{4}}\s+[01]\.\d{{4}}$", out, re.M), (kind, out)
    m = re.search(r"^summary: precision ([01]\.\d{4}) recall ([01]\.\d{4}) \(micro, all types\); docs/s [\d,]+$", out, re.M)
    assert m, out
    # the stage does its job on the set: far better than chance
    assert float(m.group(1)) > 0.9 and float(m.group(2)) > 0.9, m.group(0)
