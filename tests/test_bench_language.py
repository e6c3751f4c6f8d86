"""bench/language_thresholds.py and bench/language_overhead.py start and print their tables on a few languages or
documents; the thresholds table in stages/language.py is what the bench derives."""

import re

from conftest import run_bench, shared_path
from stages.language import LID176_THRESHOLDS


def test_language_thresholds_on_a_few_languages_agree_with_the_table():
    shared_path("langid", "lingua-sentences")
    out = run_bench("language_thresholds.py", "--languages", "en", "cy", "nb", "bs", "zu", timeout=120)
    assert re.search(r"^lang\s+sentences\s+accuracy\s+group\s+paragraphs\s+found\s+p2\s+threshold$", out, re.M), out
    rows = {m.group(1): m.groups() for m in re.finditer(
        r"^(\w+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s+([\d.-]+)\s+([\d.]+|-)$", out, re.M)}
    assert set(rows) == {"en", "cy", "nb", "bs", "zu"}, out
    for lang in ("en", "cy", "nb", "bs"):
        assert float(rows[lang][7]) == LID176_THRESHOLDS[lang], (lang, rows[lang])
    assert rows["zu"][7] == "-" and "zu" not in LID176_THRESHOLDS  # lid.176 has no label for Zulu
    assert float(rows["bs"][2]) < 0.1 < 0.9 < float(rows["bs"][3])  # Bosnian: right only as a group member
    m = re.search(r"^accuracy >= 0\.95 \((\d+)\): (.*)$", out, re.M)
    assert m and sorted(m.group(2).split()) == ["cy", "en"], out


def test_language_overhead_prints_its_ratios():
    out = run_bench("language_overhead.py", "--sample-only", "--limit", "20", "--repeats", "1", timeout=300)
    for name in ("lid.176 predict \\(before\\)", "script", "language stage process\\(\\)"):
        assert re.search(rf"^{name}\s+[\d.]+\s+[\d.]+x$", out, re.M), (name, out)
    assert re.search(r"^a kept document's accounting \(keep\(\)\): .* us a document and stage, [\d.]+% of "
                     r"gopher_quality's process\(\) \(\d+ us\)$", out, re.M), out
