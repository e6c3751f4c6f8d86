"""bench/pii_quality.py: the --tiny run ends cleanly and prints its table and summary line; --labelled scores a
labelled set of the user's own."""

import json
import re

from conftest import run_bench

TYPES = ("email", "ip", "phone", "card", "ssn")


def rows(out: str) -> dict[str, tuple]:
    """type -> (labelled, TP, FN, partial, FP, precision, recall) from the bench's table."""
    found = {}
    for kind in (*TYPES, "all"):
        m = re.search(rf"^{kind}\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([01]\.\d{{4}})\s+([01]\.\d{{4}})$", out, re.M)
        assert m, (kind, out)
        found[kind] = (*(int(g.replace(",", "")) for g in m.groups()[:5]), float(m.group(6)), float(m.group(7)))
    return found


def test_pii_quality_tiny():
    out = run_bench("pii_quality.py", "--tiny", timeout=120)
    assert re.search(r"^type\s+labelled\s+TP\s+FN\s+partial\s+FP\s+precision\s+recall", out, re.M), out
    table = rows(out)
    assert all(table[k][0] > 0 for k in TYPES), table  # the generated set has every type
    m = re.search(r"^summary: precision ([01]\.\d{4}) recall ([01]\.\d{4}) \(micro, all types\); docs/s [\d,]+$", out, re.M)
    assert m, out
    # the stage does its job on the set: far better than chance
    assert float(m.group(1)) > 0.9 and float(m.group(2)) > 0.9, m.group(0)


def test_pii_quality_labelled_file(tmp_path):
    def doc(text, *items):
        spans = []
        for item, kind in items:
            start = text.index(item)
            spans.append([start, start + len(item), kind])
        return json.dumps({"text": text, "spans": spans})

    lines = [
        # found exactly: a true positive each
        doc("Mail jane@example.org or call +44 20 7946 0958.", ("jane@example.org", "email"), ("+44 20 7946 0958", "phone")),
        doc("Card 4111 1111 1111 1111, SSN 123-45-6789.", ("4111 1111 1111 1111", "card"), ("123-45-6789", "ssn")),
        # labelled but not found (a bare 3-3-4 number is left alone): a false negative
        doc("Call 555 123 4567 now.", ("555 123 4567", "phone")),
        # labelled with other bounds than the stage's: a partial, so a false negative, and no false positive
        doc("Server: 93.184.216.34:8080 is up.", ("93.184.216.34:8080", "ip")),
        # found but not labelled: a false positive
        doc("Unlabelled 4111-1111-1111-1111 here."),
        "",  # blank lines are skipped
        doc("Nothing to see here, version 1.2.3.4."),
    ]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out = run_bench("pii_quality.py", "--labelled", str(path), "--repeat", "1", timeout=120)
    table = rows(out)
    assert table["email"][:5] == (1, 1, 0, 0, 0)
    assert table["phone"][:5] == (2, 1, 1, 0, 0) and table["phone"][6] == 0.5
    assert table["card"][:5] == (1, 1, 0, 0, 1) and table["card"][5] == 0.5
    assert table["ssn"][:5] == (1, 1, 0, 0, 0)
    assert table["ip"][:5] == (1, 0, 1, 1, 0)
    assert table["all"][:5] == (6, 4, 2, 1, 1)
    assert "formats missed: phone x1, ip x1" in out or "formats missed: ip x1, phone x1" in out, out


def test_pii_quality_labelled_file_errors_name_the_line(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "abc", "spans": []}) + "\n" + json.dumps({"text": "abc", "spans": [[0, 9, "email"]]}) + "\n")
    proc = subprocess.run([sys.executable, "bench/pii_quality.py", "--labelled", str(path)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and f"{path}:2:" in proc.stderr and "start < end <= 3" in proc.stderr, proc.stderr
