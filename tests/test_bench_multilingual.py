"""bench/multilingual_quality.py: on two languages it prints its table and the targets line; German and Chinese
clean pages fail fineweb.yaml's English filters and pass multilingual.yaml's profiles."""

import re

from conftest import run_bench, shared_path


def test_multilingual_quality_two_languages():
    shared_path("langid", "lingua-sentences")
    out = run_bench("multilingual_quality.py", "--languages", "de,zh", timeout=600)
    rows = {}
    for m in re.finditer(r"^(\w+)\s+([01]\.\d{3})\s+(\d+) \|\s+(\d+)%\s+(\d+)% \|\s+(\d+)%\s+(\d+)%$", out, re.M):
        rows[m.group(1)] = (float(m.group(2)), *(int(g) for g in m.groups()[2:]))
    assert set(rows) == {"de", "zh"}, out
    for lang, (accuracy, sentences, a_kept, a_dropped, b_kept, b_dropped) in rows.items():
        assert accuracy >= 0.95 and sentences > 50, (lang, out)
        assert a_kept == 0 and b_kept == 100 and b_dropped >= 80, (lang, out)  # English filters on German, Chinese
    assert "targets for (b): clean kept >= 90%, low-quality dropped >= 80%: met in every language" in out, out
