"""Per-document cost of the four quality stages and of word tokenization, on extracted text.

    PYTHONPATH=$PWD python bench/filter_profile.py [--repeats 3]

Documents: the bundled sample's HTML pages as the extract stage leaves them, plus every page under
../shared/data/extraction (when present), extracted the same way, and the Scrapinghub benchmark's article bodies
(the documents of tests/test_fast_filters.py). Each document goes through the four stages in pipeline order
(default parameters), each stage timed alone, after `words`, the word tokenization of the document, which the
first stage to split it pays in a run. Variants, alternating per document:
- datatrove: every decision by datatrove's filters, with datatrove's own SpaCyTokenizer for words and sentences
  (words through datatrove's 5-text cache, as its filters split them);
- refinery: the stages as they are, with the shared tokenizer of stages/word_tokens.py.
Each figure is the median over the documents of the best of --repeats passes, except refinery's `words`: its
first pass, in document order, with the chunks the documents before left remembered, as in a run (a later pass
would find every chunk remembered).
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
    from stages.fineweb_quality import FineWebQualityStage
    from stages.gopher_quality import GopherQualityStage
    from stages.gopher_repetition import GopherRepetitionStage

    classes = (GopherRepetitionStage, GopherQualityStage, C4QualityStage, FineWebQualityStage)
    from datatrove.utils.text import SPLIT_TEXT_WORDS, split_into_parts
    from datatrove.utils.word_tokenizers import SpaCyTokenizer

    stock = SpaCyTokenizer("en")
    variants = {}
    for variant in ("datatrove", "refinery"):
        variants[variant] = [cls(**dataclasses.asdict(cls.Params())) for cls in classes]
        if variant == "datatrove":
            for s in variants[variant]:
                s.decides_itself = False
                use_word_tokenizer(s.inner, stock)  # datatrove's own words and sentences
    tok = variants["refinery"][0].inner.language  # the word tokenizer the stages share (word_tokenizer(language))
    assert all(getattr(s.inner.language, "inner", s.inner.language) is tok for s in variants["refinery"])
    for t in (stock, tok):
        t.word_tokenize("warm up the spaCy pipeline.")
    tok._chunks.clear()  # refinery's words: each document once, with what the documents before it left
    names = ["words"] + [cls.name for cls in classes]
    best = {v: {name: [float("inf")] * len(texts) for name in names} for v in variants}
    for r in range(repeats):
        for i, text in enumerate(texts):
            order = list(variants) if (r + i) % 2 else list(variants)[::-1]  # interleaved, alternating
            for variant in order:
                b = best[variant]
                tok._words.clear()
                t = time.perf_counter()
                if variant == "datatrove":  # through datatrove's 5-text cache, as its filters split words
                    split_into_parts.cache_clear()
                    split_into_parts(text, mode=SPLIT_TEXT_WORDS, language=stock)  # the key its filters use
                else:
                    tok.word_tokenize(text)
                if r == 0 or variant == "datatrove":  # refinery: the first pass, as in a run
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
