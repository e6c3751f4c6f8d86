"""bench/dedup_quality.py runs end to end on a tiny corpus and prints its tables; and the numpy shingle hashing
of stages/minhash_dedup.py (what the benchmark measures) splits texts into exactly the n-grams of `shingles()`."""

import os
import random
import re
import subprocess
import sys

from stages.minhash_dedup import MinhashConfig, shingles

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_dedup_benchmark_tiny():
    proc = subprocess.run(
        [sys.executable, "bench/dedup_quality.py", "--tiny"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    # quality: one row per Jaccard bin, then the false-positive rate
    assert "== quality:" in out and "recall" in out and "LSH P(mean)" in out
    for center in ("0.5", "0.6", "0.7", "0.8", "0.9", "1.0"):
        assert re.search(rf"^\s+{re.escape(center)}\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+", out, re.M), f"bin {center}"
    assert re.search(r"^false positives: \d+ of \d+ unrelated documents removed, rate [\d.]+$", out, re.M)
    # throughput of both signature steps
    assert re.search(r"^refinery MinhashSignatureStep\s+[\d.]+\s+\d+$", out, re.M)
    assert re.search(r"^datatrove MinhashDedupSignature\s+[\d.]+\s+\d+$", out, re.M)
    # memory table: one row per size
    assert "== memory per phase" in out
    for size in (300, 600):
        assert re.search(rf"^\s+{size}\s+\d+ \|", out, re.M), f"memory row {size}"
    assert re.search(r"^growth 300 -> 600 docs: buckets peak", out, re.M)
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio refinery/datatrove signature docs/s: \d+\.\d\d", last), last


def test_shingle_hashes_are_the_ngrams_of_shingles():
    # Unicode letters and digits, combining marks (not \w for Python's re), case changes that alter length,
    # punctuation, texts shorter than an n-gram and empty ones
    pool = ["river", "Straße", "İstanbul", "naïve", "e\u0301", "हिन्दी", "東京", "١٢٣", "x_y", "Ⅻ", "½", "ﬁ", "🙂",
            "—", "’", ",", ".", " ", "\n", "a", "b", "c"]
    rng = random.Random(0)
    texts = ["".join(rng.choice(pool) + rng.choice(["", " ", ", "]) for _ in range(rng.choice([0, 1, 3, 4, 5, 9, 60])))
             for _ in range(400)]
    cfg = MinhashConfig("unused")
    hashes, owner = cfg.shingle_hashes(texts)
    seen: dict[bytes, int] = {}
    for i, text in enumerate(texts):
        mine = hashes[owner == i].tolist()
        words = re.findall(r"\w+", text.lower())
        grams = [" ".join(words[k : k + 5]) for k in range(len(words) - 4)] or ([" ".join(words)] if words else [])
        assert len(mine) == len(grams), text
        assert {g.encode() for g in grams} == shingles(text, 5)
        for gram, h in zip(grams, mine):  # one hash per n-gram, the same in every text
            assert seen.setdefault(gram.encode(), h) == h, gram
    assert len(set(seen.values())) == len(seen), "two distinct n-grams share a hash"
