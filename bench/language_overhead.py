"""What the language stage's additions cost: the script of a text, the quirk handling, and the per-language stat
keys every stage from the language stage on writes.

    PYTHONPATH=$PWD python bench/language_overhead.py [--repeats 5] [--limit N] [--sample-only]

Documents: those of bench/filter_profile.py (the bundled sample's pages as extracted, and every page under
../shared/data/extraction, in a dozen languages). Figures are medians over the documents of the best of --repeats
interleaved passes, each against a reference measured in the same pass:
- language stage: lid.176's prediction alone (what the stage did before, datatrove's FT176LID.predict) against
  the script (stages/scripts.py), and against the stage's whole process() (prediction, quirks, thresholds, script);
- accounting: what a stage does for a kept document (RefineryStage.keep: the stats) with a language (lang/<L>/
  keys written too) against the same without one, and against gopher_quality's process() for scale.
"""

import argparse
import dataclasses
import os
import statistics
import sys
import time

from datatrove.data import Document

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best_times(texts, fns: dict, repeats: int) -> dict[str, list[float]]:
    """{name: per-document best seconds}; the functions alternate order per document and pass."""
    best = {name: [float("inf")] * len(texts) for name in fns}
    for r in range(repeats):
        for i, text in enumerate(texts):
            names = list(fns) if (r + i) % 2 else list(fns)[::-1]
            for name in names:
                t = time.perf_counter()
                fns[name](text, i)
                best[name][i] = min(best[name][i], time.perf_counter() - t)
    return best


def accounting(texts, repeats: int) -> dict[str, float]:
    """Median seconds a document of what a stage does for a verdict (RefineryStage.keep: kept, kept_bytes, and
    with a language lang/<L>/in, lang/<L>/kept, lang/<L>/kept_bytes), with and without a language; and of
    gopher_quality's process() on the same documents, for scale."""
    from stages.gopher_quality import GopherQualityStage

    langs = ["en", "de", "fr", "zh", "ja", "ru", "pl", "es"]
    stage = GopherQualityStage(**dataclasses.asdict(GopherQualityStage.Params()))
    docs = {"without language": [Document(text=t, id=str(i)) for i, t in enumerate(texts)],
            "with language": [Document(text=t, id=str(i), metadata={"language": langs[i % len(langs)]})
                              for i, t in enumerate(texts)]}
    fns = {name: (lambda t, i, d=d: stage.keep(d[i])) for name, d in docs.items()}
    fns["gopher_quality process()"] = lambda t, i: stage.process(docs["without language"][i])
    return {name: statistics.median(times) for name, times in best_times(texts, fns, repeats).items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--limit", type=int, default=None, help="only the first N documents")
    ap.add_argument("--sample-only", action="store_true", help="only the bundled sample's pages (a quick check)")
    args = ap.parse_args(argv)
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from filter_profile import documents
    from test_fast_filters import extracted_sample_texts

    from stages.compat import LocalFT176LID
    from stages.language import LanguageStage, lid176_path
    from stages.scripts import text_script

    texts = (extracted_sample_texts() if args.sample_only else documents())[: args.limit]
    lid = LocalFT176LID(None, lid176_path())
    stage = LanguageStage(languages=None)
    lid.predict(Document(text="warm up", id="w"))
    stage.process(Document(text="warm up", id="w"))
    print(f"{len(texts)} documents, median {statistics.median(len(t) for t in texts):.0f} characters")
    best = best_times(texts, {
        "lid.176 predict (before)": lambda t, i: lid.predict(Document(text=t, id=str(i))),
        "script": lambda t, i: text_script(t),
        "language stage process()": lambda t, i: stage.process(Document(text=t, id=str(i))),
    }, args.repeats)
    ref = statistics.median(best["lid.176 predict (before)"])
    print(f"{'per document (median)':28s} {'us':>9s} {'vs lid.176':>10s}")
    for name, times in best.items():
        m = statistics.median(times)
        print(f"{name:28s} {1e6 * m:9.1f} {m / ref:9.2f}x")
    acc = accounting(texts, args.repeats)
    base, lang, work = acc["without language"], acc["with language"], acc["gopher_quality process()"]
    print(f"a kept document's accounting (keep()): without language {1e6 * base:.1f} us, with language "
          f"(lang/<L>/ keys) {1e6 * lang:.1f} us: {1e6 * (lang - base):+.1f} us a document and stage, "
          f"{(lang - base) / work:.1%} of gopher_quality's process() ({1e6 * work:.0f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
