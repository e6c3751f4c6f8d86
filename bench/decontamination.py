"""Speed and recall of refinery's decontaminate stage (stages/decontaminate.py), on a synthetic corpus.

    python bench/decontamination.py [--ngrams 1000000] [--docs 2000] [--tiny] [--seed N]

1. speed: an eval set (JSONL, HellaSwag-like items of a context and four endings, 20-60 words each, from a
   20k-word Zipfian vocabulary) sized to hold about --ngrams distinct 13-grams; the stage's index build (seconds,
   peak RSS growth) and its docs/s over --docs documents of 300-800 words (a tenth of them contaminated).
2. recall on planted contamination, by kind and by item length: a document quoting an item whole; the same with
   one word (the middle one) changed; the item split across two paragraphs (a blank line in its middle); and the
   false-positive rate on clean documents. An item of w words with its middle word changed keeps a 13-gram only
   when w >= 27 (13 words on one side of the change): the recall table says how much that costs.
The last line is `docs/s: X`.
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from dedup_quality import random_words, vocabulary  # noqa: E402

KINDS = ("whole", "one word changed", "split across paragraphs")
LENGTHS = ((13, 20), (21, 30), (31, 45), (46, 60))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def eval_set(path: str, rng: random.Random, vocab, ngrams: int) -> list[list[str]]:
    """Writes the eval set; returns its items (each a list of words)."""
    items, total = [], 0
    with open(path, "w") as f:
        while total < ngrams:
            record = {"ctx": random_words(rng, vocab, rng.randint(13, 60)),
                      "endings": [random_words(rng, vocab, rng.randint(13, 60)) for _ in range(4)]}
            for words in [record["ctx"], *record["endings"]]:
                items.append(words)
                total += len(words) - 12
            f.write(json.dumps({"ctx": " ".join(record["ctx"]),
                                "endings": [" ".join(e) for e in record["endings"]]}) + "\n")
    return items


def plant(rng: random.Random, vocab, item: list[str], kind: str) -> str:
    words = list(item)
    if kind == "one word changed":
        words[len(words) // 2] = "zzzchanged"
    quoted = " ".join(words)
    if kind == "split across paragraphs":
        half = len(words) // 2
        quoted = " ".join(words[:half]) + ".\n\n" + " ".join(words[half:])
    before = " ".join(random_words(rng, vocab, rng.randint(150, 400)))
    after = " ".join(random_words(rng, vocab, rng.randint(150, 400)))
    return f"{before}.\n\n{quoted}\n\n{after}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ngrams", type=int, default=1_000_000, help="13-grams of the eval set")
    p.add_argument("--docs", type=int, default=2000, help="documents of the speed test")
    p.add_argument("--per-kind", type=int, default=400, help="planted documents per kind (recall)")
    p.add_argument("--tiny", action="store_true", help="a small eval set and few documents (smoke test)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if args.tiny:
        args.ngrams, args.docs, args.per_kind = 20000, 100, 40

    from datatrove.data import Document
    from datatrove.utils.logging import logger

    from stages.decontaminate import DecontaminateStage, EvalIndex

    logger.disable("datatrove")
    rng = random.Random(args.seed)
    vocab = vocabulary(rng)
    with tempfile.TemporaryDirectory(prefix="decont-bench-") as tmp:
        path = os.path.join(tmp, "evalset.jsonl")
        items = eval_set(path, rng, vocab, args.ngrams)
        stage = DecontaminateStage([path], ["ctx", "endings"])
        before, t0 = rss_mb(), time.perf_counter()
        stage.index = EvalIndex([path], ["ctx", "endings"], 13)
        build_s, grown = time.perf_counter() - t0, rss_mb() - before
        distinct = sum(len(h) for h in stage.index.hashes)

        # speed: --docs documents, a tenth contaminated
        docs = []
        for i in range(args.docs):
            if i % 10 == 0:
                text = plant(rng, vocab, rng.choice(items), "whole")
            else:
                text = " ".join(random_words(rng, vocab, rng.randint(300, 800)))
            docs.append(Document(text=text, id=f"<d{i}>", metadata={}))
        words_total = sum(len(d.text.split()) for d in docs)
        t0 = time.perf_counter()
        dropped = sum(1 for d in docs if stage.process(d) is not None)
        seconds = time.perf_counter() - t0
        print(f"== decontaminate: eval set of {len(items):,} items, {distinct:,} distinct 13-grams ==")
        print(f"index build {build_s:.1f} s, RSS +{grown:.0f} MB")
        print(f"{'documents':>9} {'words':>10} {'seconds':>8} {'docs/s':>8} {'words/s':>10} {'dropped':>8}")
        print(f"{len(docs):>9} {words_total:>10} {seconds:>8.2f} {len(docs) / seconds:>8.0f} "
              f"{words_total / seconds:>10.0f} {dropped:>8}")

        # recall by kind and item length
        print("\n== recall on planted contamination (share of planted documents dropped) ==")
        print(f"{'kind':<26} " + " ".join(f"{f'{a}-{b} words':>13}" for a, b in LENGTHS) + f" {'all':>7}")
        by_length = {span: [w for w in items if span[0] <= len(w) <= span[1]] for span in LENGTHS}
        for kind in KINDS:
            cells, hit_all, n_all = [], 0, 0
            for span in LENGTHS:
                pool = by_length[span]
                hits = 0
                for _ in range(args.per_kind):
                    doc = Document(text=plant(rng, vocab, rng.choice(pool), kind), id="x", metadata={})
                    hits += stage.process(doc) is not None
                cells.append(f"{hits / args.per_kind:>13.3f}")
                hit_all, n_all = hit_all + hits, n_all + args.per_kind
            print(f"{kind:<26} " + " ".join(cells) + f" {hit_all / n_all:>7.3f}")
        clean = [Document(text=" ".join(random_words(rng, vocab, rng.randint(300, 800))), id="c", metadata={})
                 for _ in range(args.per_kind)]
        fp = sum(stage.process(d) is not None for d in clean)
        print(f"false positives: {fp} of {len(clean)} clean documents")
        print(f"\ndocs/s: {len(docs) / seconds:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
