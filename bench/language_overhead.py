"""What the language stage's additions cost: the script of a text, the quirk handling, and the per-language stat
keys every stage from the language stage on writes.

    PYTHONPATH=$PWD python bench/language_overhead.py [--repeats 5]

Documents: those of bench/filter_profile.py (the bundled sample's pages as extracted, and every page under
../shared/data/extraction, in a dozen languages). Figures are medians over the documents of the best of --repeats
interleaved passes, each against a reference measured in the same pass:
- language stage: lid.176's prediction alone (what the stage did before, datatrove's FT176LID.predict) against
  the script (stages/scripts.py), and against the stage's whole process() (prediction, quirks, thresholds, script);
- accounting: a whole stage run (gopher_quality, over every document, as in a pipeline: counting, the verdict, the
  stats) with documents that have a language (lang/<L>/ keys written) against the same documents without one.
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


def stage_runs(texts, repeats: int) -> dict[str, float]:
    """Seconds of a whole gopher_quality run over every document, with and without a language (best of repeats)."""
    from stages.gopher_quality import GopherQualityStage

    langs = ["en", "de", "fr", "zh", "ja", "ru", "pl", "es"]
    out = {"without language": float("inf"), "with language": float("inf")}
    for r in range(repeats):
        for variant in (list(out) if r % 2 else list(out)[::-1]):
            stage = GopherQualityStage(**dataclasses.asdict(GopherQualityStage.Params()))
            docs = [Document(text=t, id=str(i), metadata={"language": langs[i % len(langs)]}
                             if variant == "with language" else {}) for i, t in enumerate(texts)]
            t = time.perf_counter()
            for _ in stage.run(iter(docs)):
                pass
            out[variant] = min(out[variant], time.perf_counter() - t)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from filter_profile import documents

    from stages.compat import LocalFT176LID
    from stages.language import LanguageStage, lid176_path
    from stages.scripts import text_script

    texts = documents()
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
    runs = stage_runs(texts, args.repeats)
    base, lang = runs["without language"], runs["with language"]
    print(f"gopher_quality run over {len(texts)} documents: without language {base * 1000:.1f} ms, with language "
          f"(lang/<L>/ keys) {lang * 1000:.1f} ms: {lang / base:.3f}x ({1e6 * (lang - base) / len(texts):+.1f} us a "
          f"document)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
