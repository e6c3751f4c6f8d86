"""quality_classifier (type fasttext) speed: refinery's stage against calling fastText's predict directly on the
same texts.

    python bench/classifier_speed.py                          # 4,000 generated documents, a model trained here
    python bench/classifier_speed.py --docs runs/real/documents --model MODEL.bin
    python bench/classifier_speed.py --tiny                   # smoke test (seconds)

Measured in this one process, one core, refinery and direct alternated (ABBA...) --repeat times; ratios compare
the best runs (on a shared machine noise only adds time):

  refinery: what a task does: stages.quality_classifier.QualityScoreStep (loads the model, scores the documents a
            batch at a time, stores quality_score) followed by the funnel stage QualityClassifierStage deciding
            by a threshold (counting, no removed/ folder), over datatrove Documents;
  direct:   fasttext.load_model, then for each text DCLM's enricher: predict(" ".join(text.strip().splitlines()))
            one call per document (baselines/mappers/enrichers/quality_prediction_enrichers_calc_fasttext.py);
  direct, batched: the same preparation, predict on lists of 256 texts (what the stage calls).

The scores of refinery and of direct-batched are compared (identical); the largest difference from DCLM's
one-call-per-document form is printed (0 with this fastText build). Prints docs/s per core for each, the ratios
refinery/direct and the overhead in percent. Project target: overhead <= 10% over direct fastText.

Without --model a fastText model is trained here with DCLM's recipe (word bigrams, dim 100, lr 0.1, 5 epochs) on
generated texts; --bucket (default 200,000 here, fastText's 2,000,000 with `refinery classifier train`) sets its
size: predict's cost per word grows with dim and word n-grams, not with the number of buckets.
"""

import argparse
import glob
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pyarrow.parquet as pq  # noqa: E402
from datatrove.data import Document  # noqa: E402

from stages.quality_classifier import QualityClassifierStage, QualityScoreStep, fasttext_label, prepare_fasttext  # noqa: E402

TARGET_OVERHEAD = 0.10
COMMON = ("the of and to a in is it you that he was for on are with as his they be at one have this from or had by "
          "word but what some we can out other were all there when up use your how said an each she which do their "
          "time if will way about many then them write would like so these her long make thing see him two has look "
          "more day could go come did number sound no most people my over know water than call first who may down "
          "side been now find any new work part take get place made live where after back little only round man year "
          "came show every good me give our under name very through just form sentence great think say help low line").split()
SPAMMY = "buy cheap free click offer deal win casino bonus discount best price sale now limited".split()


def generated(n: int, seed: int, spam_share: float = 0.5) -> list[str]:
    """English-like documents of 300-1200 words, lines of 8-30 words; some with spam words mixed in."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        vocab = COMMON + (SPAMMY * 3 if rng.random() < spam_share else [])
        words = [rng.choice(vocab) for _ in range(rng.randint(300, 1200))]
        lines, i = [], 0
        while i < len(words):
            k = rng.randint(8, 30)
            lines.append(" ".join(words[i : i + k]).capitalize() + ".")
            i += k
        texts.append("\n".join(lines))
    return texts


def train_model(path: str, bucket: int, dim: int, seed: int):
    from pipeline.classifier import train_supervised

    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "train.txt")
        with open(data, "w") as f:
            for label, share, s in (("hq", 0.0, seed + 1), ("lq", 1.0, seed + 2)):
                for t in generated(300, s, share):
                    f.write(f"__label__{label} {prepare_fasttext(t)}\n")
        model = train_supervised(data, wordNgrams=2, dim=dim, lr=0.1, epoch=5, minCount=1, bucket=bucket, seed=seed)
    model.save_model(path)


def read_docs(folder: str, limit: int) -> list[str]:
    texts = []
    for path in sorted(glob.glob(os.path.join(folder, "*.parquet"))):
        texts += [t for t in pq.read_table(path, columns=["text"]).column("text").to_pylist() if t]
        if len(texts) >= limit:
            break
    return texts[:limit]


def run_refinery(model: str, label: str, docs: list[Document]) -> list[float]:
    scores = QualityScoreStep("fasttext", model, label, None).run(iter(docs))
    kept = QualityClassifierStage(threshold=float("-inf")).run(scores)  # decides, keeps all
    out = []
    for doc in kept:
        out.append(doc.metadata["quality_score"])
    return out


def run_direct(model_path: str, label: str, texts: list[str]) -> list[float]:
    import fasttext

    model = fasttext.load_model(model_path)
    want = fasttext_label(label)
    out = []
    for t in texts:
        labels, probs = model.predict(" ".join(t.strip().splitlines()), k=-1)
        out.append(float(dict(zip(labels, probs))[want]))
    return out


def run_direct_batched(model_path: str, label: str, texts: list[str], batch: int = 256) -> list[float]:
    import fasttext

    model = fasttext.load_model(model_path)
    want = fasttext_label(label)
    out = []
    for i in range(0, len(texts), batch):
        labels, probs = model.predict([" ".join(t.strip().splitlines()) for t in texts[i : i + batch]], k=-1)
        out += [float(dict(zip(ls, ps))[want]) for ls, ps in zip(labels, probs)]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", help="a folder of documents Parquet files (e.g. a run's documents/)")
    p.add_argument("--n", type=int, default=4000,
                   help="documents (generated, or the first N of --docs, repeated when it has fewer)")
    p.add_argument("--model", help="a fastText model (default: train one here)")
    p.add_argument("--label", default="hq")
    p.add_argument("--bucket", type=int, default=200_000)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tiny", action="store_true", help="smoke test: 200 documents, a small model, 2 repeats")
    args = p.parse_args(argv)
    if args.tiny:
        args.n, args.bucket, args.dim, args.repeat = 200, 5000, 16, 2
    texts = read_docs(args.docs, args.n) if args.docs else generated(args.n, args.seed)
    distinct = len(texts)
    if texts and len(texts) < args.n:  # a small run: its documents repeated, so model loading does not dominate
        texts = (texts * (args.n // len(texts) + 1))[: args.n]
    chars = sum(len(t) for t in texts)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if not model:
            model = os.path.join(tmp, "model.bin")
            train_model(model, args.bucket, args.dim, args.seed)
        size = os.path.getsize(model) / 1e6
        print(f"{len(texts):,} documents" + (f" ({distinct:,} distinct, repeated)" if distinct < len(texts) else "")
              + f", {chars / len(texts):,.0f} characters on average; model {size:.1f} MB"
              + ("" if args.model else f" (trained here: dim {args.dim}, bucket {args.bucket:,}, word bigrams)"))
        docs = [Document(text=t, id=f"d{i:08d}", metadata={}) for i, t in enumerate(texts)]  # as a pipeline has them
        sides = {"refinery": run_refinery, "direct": run_direct, "direct, batched": run_direct_batched}
        times = {k: [] for k in sides}
        scores = {}
        order = list(sides)
        for r in range(args.repeat):
            for name in (order if r % 2 == 0 else order[::-1]):
                start = time.process_time()
                scores[name] = sides[name](model, args.label, docs if name == "refinery" else texts)
                times[name].append(time.process_time() - start)
    best = {k: min(v) for k, v in times.items()}
    print(f"{'':<18} {'best s':>8} {'median s':>9} {'docs/s per core':>16}")
    for name in sides:
        print(f"{name:<18} {best[name]:>8.3f} {statistics.median(times[name]):>9.3f} {len(texts) / best[name]:>16,.0f}")
    same = scores["refinery"] == scores["direct, batched"]
    close = max(abs(a - b) for a, b in zip(scores["refinery"], scores["direct"])) if texts else 0.0
    print(f"scores identical (refinery vs direct, batched): {'yes' if same else 'NO'}; largest difference from "
          f"one call per document: {close:.2e}")
    for ref in ("direct", "direct, batched"):
        ratio = best["refinery"] / best[ref]
        print(f"ratio refinery/{ref} time: {ratio:.3f} (overhead {100 * (ratio - 1):+.1f}%, target <= "
              f"{100 * TARGET_OVERHEAD:.0f}%)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
