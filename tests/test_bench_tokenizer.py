"""Smoke test of bench/tokenizer_speed.py: the --tiny run ends cleanly and prints its table and ratio lines."""

from conftest import run_bench


def test_tokenizer_speed_tiny():
    out = run_bench("tokenizer_speed.py", "--tiny", timeout=120)
    for needle in ("tokenizer training time (s)", "shard writing MB/s", "ratio refinery/direct tokenizer training time: ",
                   "ratio refinery/direct shard MB/s: ", "overhead tokenizer training: ", "overhead shard writing: ",
                   "tokenizer.json identical (refinery vs direct): yes"):
        assert needle in out, (needle, out)
    # both sides wrote every document, with the same token ids
    rows = next(line for line in out.splitlines() if line.startswith("rows written:"))
    assert rows.endswith("same ids and token ids: yes"), rows
    counts = rows.split(";")[0].replace(",", "").replace("(", " ").split()
    assert len({w for w in counts if w.isdigit()}) == 1, rows
