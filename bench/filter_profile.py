"""Per-document cost of the four quality stages and of word tokenization, on extracted text.

    PYTHONPATH=$PWD python bench/filter_profile.py [--repeats 3]

Documents: the bundled sample's HTML pages as the extract stage leaves them, plus every page under
../shared/data/extraction (when present), extracted the same way, and the Scrapinghub benchmark's article bodies
(the documents of tests/test_fast_filters.py). Each document goes through the
four stages in pipeline order (default parameters), each stage timed alone; `words` is the spaCy word tokenization
of the document with nothing remembered, which the first stage to split the document pays in a run; the stages are
timed after it, the words remembered (fineweb_quality still splits the text C4 rewrote). Each figure is the median
over the documents of the best of --repeats passes; the two variants (every
decision by datatrove's filters and C4 splitting every line with spaCy, as before stages/fast_filters.py; and the
stages as they are) alternate per document.
"""

import argparse
import dataclasses
import os
import statistics
import sys
import time

from datatrove.data import Document

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))


def documents() -> list[str]:
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from test_fast_filters import extracted_sample_texts, real_page_texts

    return extracted_sample_texts() + list(real_page_texts())


def profile(texts, repeats: int) -> dict[str, dict[str, float]]:
    """{variant: {stage: median ms/doc}}; variant "datatrove": every decision by datatrove's filter (as before
    stages/fast_filters.py), "refinery": the stages as they are."""
    from stages.c4_quality import C4QualityStage
    from stages.compat import use_word_tokenizer
    from stages.fast_filters import OneSentenceShortcut
    from stages.fineweb_quality import FineWebQualityStage
    from stages.gopher_quality import GopherQualityStage
    from stages.gopher_repetition import GopherRepetitionStage

    classes = (GopherRepetitionStage, GopherQualityStage, C4QualityStage, FineWebQualityStage)
    variants = {}
    for variant in ("datatrove", "refinery"):
        variants[variant] = [cls(**dataclasses.asdict(cls.Params())) for cls in classes]
        if variant == "datatrove":
            for s in variants[variant]:
                s.decides_itself = False
                if isinstance(s.inner.language, OneSentenceShortcut):
                    use_word_tokenizer(s.inner, s.inner.language.inner)  # C4 splits every line with spaCy
    tok = variants["refinery"][0].inner.language  # the word tokenizer the stages share (word_tokenizer(language))
    assert all(getattr(s.inner.language, "inner", s.inner.language) is tok for v in variants.values() for s in v)
    tok.word_tokenize("warm up the spaCy pipeline.")
    names = ["words"] + [cls.name for cls in classes]
    best = {v: {name: [float("inf")] * len(texts) for name in names} for v in variants}
    for r in range(repeats):
        for i, text in enumerate(texts):
            order = list(variants) if (r + i) % 2 else list(variants)[::-1]  # interleaved, alternating
            for variant in order:
                b = best[variant]
                tok._words.clear()
                t = time.perf_counter()
                tok.word_tokenize(text)
                b["words"][i] = min(b["words"][i], time.perf_counter() - t)
                # the words stay remembered: each stage's figure is its own work (a run pays `words` once more)
                doc = Document(text=text, id=str(i))
                for s in variants[variant]:
                    t = time.perf_counter()
                    drop = s.process(doc)
                    b[s.name][i] = min(b[s.name][i], time.perf_counter() - t)
                    if drop is not None:
                        doc = Document(text=text, id=str(i))  # later stages still see the document
    out = {}
    for variant, b in best.items():
        out[variant] = {name: 1000 * statistics.median(v) for name, v in b.items()}
        stages_ms = [sum(b[n][i] for n in names) for i in range(len(texts))]
        out[variant]["words + four stages"] = 1000 * statistics.median(stages_ms)
        out[variant]["words + four stages (mean)"] = 1000 * statistics.mean(stages_ms)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    sys.path.insert(0, ROOT)
    texts = documents()
    print(f"{len(texts)} documents, median {statistics.median(len(t) for t in texts)} chars")
    result = profile(texts, args.repeats)
    print(f"{'ms/doc (median)':24s} {'datatrove':>10s} {'refinery':>10s} {'speedup':>8s}")
    for name in result["refinery"]:
        old, new = result["datatrove"][name], result["refinery"][name]
        print(f"{name:24s} {old:10.3f} {new:10.3f} {old / new:7.1f}x")


if __name__ == "__main__":
    main()
