"""The stages that decide without datatrove's filter (stages/fast_filters.py's counts) decide as it does.

For every document (the bundled sample's pages as extracted, the generated documents of test_measure_parity, and
every real page under ../shared/data/extraction, extracted, with the Scrapinghub benchmark's article bodies) and
every option set of test_measure_parity plus a few more: the stage's verdict is datatrove's filter's (reason, or
the exception it raises), and every measured value (the one written to removed/ included) is the value computed
with datatrove's own counting functions, exactly.
"""

import dataclasses
import functools
import json
import math
import os
import random

import numpy as np
import pytest
from datatrove.data import Document
from datatrove.utils.text import PUNCTUATION_SET, split_into_words

from conftest import SHARED, extraction_html_pages
from stages.compat import filter_verdict, find_all_duplicate, find_duplicates, find_top_duplicate, get_n_grams
from stages.compat import repetition_parts
from stages.fast_filters import NGrams
from stages.fast_filters import find_duplicates as fast_find_duplicates
from stages.gopher_quality import GopherQualityStage
from stages.gopher_repetition import GopherRepetitionStage
from test_measure_parity import STAGES, generated_texts


def extracted_sample_texts() -> list[str]:
    """Every HTML page of the bundled sample, as the extract stage leaves it."""
    from pipeline.sample_data import build_pages
    from stages.extract import ExtractStage

    extract = ExtractStage(**dataclasses.asdict(ExtractStage.Params()))
    texts = []
    for page in build_pages(0):
        if page.get("status") or page.get("content_type") or page["kind"] in ("binary_as_html", "bad_content_encoding"):
            continue
        text = extract.extract(page["html"])
        if text:
            texts.append(text)
    return texts


@functools.cache
def real_page_texts() -> tuple[str, ...]:
    """Every page under ../shared/data/extraction, extracted as the extract stage does, and the Scrapinghub
    benchmark's article bodies; [] when the data is not there."""
    from stages.extract import ExtractStage

    folder = os.path.join(SHARED, "extraction")
    if not os.path.isdir(folder):
        return []
    extract = ExtractStage(**dataclasses.asdict(ExtractStage.Params()))
    texts = [text for text in map(extract.extract, extraction_html_pages()) if text]
    truth = os.path.join(folder, "scrapinghub-aeb", "ground-truth.json")
    if os.path.exists(truth):
        with open(truth, encoding="utf-8") as f:
            texts += [e["articleBody"] for e in json.load(f).values() if e.get("articleBody", "").strip()]
    return tuple(texts)  # shared by the tests that use it (extracting every page once)


# -- the values, with datatrove's own functions ----------------------------------------------------------------------
def datatrove_repetition_values(f, text) -> dict:
    if not text:
        return {"empty": 0.0}
    out = {}
    for kind, parts in zip(("para", "line"), repetition_parts(f, text)):
        dup_items, dup_chars = find_duplicates(parts)
        out[f"dup_{kind}_frac"] = dup_items / len(parts)
        out[f"dup_{kind}_char_frac"] = dup_chars / len(text)
    words = split_into_words(text, f.language)
    for n, _ in f.top_n_grams:
        grams = get_n_grams(words, n)
        out[f"top_{n}_gram"] = find_top_duplicate(grams) / len(text) if grams else 0.0
    for n, _ in f.dup_n_grams:
        out[f"duplicated_{n}_n_grams"] = find_all_duplicate(words, n) / len(text)
    return out


def datatrove_quality_values(f, text) -> dict:
    words = split_into_words(text, f.language)
    n_words = max(len(words), 1)
    non_symbol = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
    lines = text.splitlines() or [""]
    bullets = sum(s.lstrip().startswith("•") or s.lstrip().startswith("-") for s in lines)
    end_ellipsis = sum(s.rstrip().endswith("...") or s.rstrip().endswith("…") for s in lines)
    out = {"gopher_short_doc": len(non_symbol), "gopher_long_doc": len(non_symbol)}
    if non_symbol:
        out["gopher_below_avg_threshold"] = out["gopher_above_avg_threshold"] = np.mean([len(w) for w in non_symbol])
    return out | {
        "gopher_too_many_hashes": text.count("#") / n_words,
        "gopher_too_many_ellipsis": (text.count("...") + text.count("…")) / n_words,
        "gopher_too_many_bullets": bullets / len(lines),
        "gopher_too_many_end_ellipsis": end_ellipsis / len(lines),
        "gopher_below_alpha_threshold": sum([any((c.isalpha() for c in w)) for w in words]) / n_words,
        "gopher_enough_stop_words": len(f.stop_words.intersection(set(words))),
    }


REFERENCE = {GopherRepetitionStage: datatrove_repetition_values, GopherQualityStage: datatrove_quality_values}
EXTRA_OPTIONS = {
    GopherRepetitionStage: [
        {"top_n_grams": [[1, 0.05], [2, 0.02], [5, 0.01]], "dup_n_grams": [[1, 0.02], [2, 0.05], [3, 0.3], [4, 0.001]]},
        {"dup_line_frac": 0.0, "dup_para_frac": 0.0, "top_n_grams": [[12, 0.001]], "dup_n_grams": [[15, 0.001]]},
    ],
    GopherQualityStage: [
        {"min_doc_words": None, "min_avg_word_length": None, "max_avg_word_length": None, "max_symbol_word_ratio": None,
         "max_bullet_lines_ratio": None, "max_ellipsis_lines_ratio": None, "max_non_alpha_words_ratio": 0.99,
         "min_stop_words": 4},
        {"min_doc_words": 0, "max_symbol_word_ratio": 0.0, "min_avg_word_length": 5, "stop_words": []},
    ],
}


def outcome(call):
    try:
        return call()
    except Exception as e:  # noqa: BLE001 - the same exception type is the same outcome (the stage drops `error`)
        return type(e).__name__


def same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def check_stage(cls, overrides, texts):
    params = {**dataclasses.asdict(cls.Params()), **overrides}
    stage = cls(**params)
    reference = cls(**params)  # datatrove's filter, with the same word tokenizer
    drops = 0
    for text in texts:
        where = f"{cls.name} {overrides} on {text[:100]!r}"
        want = outcome(lambda: filter_verdict(reference.inner.filter(Document(text=text, id="x"))))
        got = outcome(lambda: stage.process(Document(text=text, id="x")))
        values = REFERENCE[cls](reference.inner, text)
        measured = stage.measures(text)
        assert measured.keys() == values.keys() and all(same(measured[k], values[k]) for k in values), \
            f"{where}: measured {measured}, datatrove's counts give {values}"
        if isinstance(want, str):
            assert got == want, f"{where}: datatrove raised {want}, the stage gave {got}"
            continue
        keep, reason = want
        if keep:
            assert got is None, f"{where}: datatrove keeps it, the stage dropped it for {got}"
        else:
            drops += 1
            assert got is not None and got.reason == reason, f"{where}: datatrove drops it for {reason}, stage: {got}"
            assert same(got.value, values[reason]), f"{where}: removed/ value {got.value}, datatrove's {values[reason]}"
    return drops


def option_sets(cls):
    return STAGES[cls][1] + EXTRA_OPTIONS[cls]


@pytest.fixture(scope="module")
def sample_and_generated():
    return extracted_sample_texts() + generated_texts()


@pytest.mark.parametrize("cls", [GopherRepetitionStage, GopherQualityStage], ids=lambda c: c.name)
def test_fast_stages_decide_and_measure_as_datatrove_on_sample_and_generated(cls, sample_and_generated):
    drops = sum(check_stage(cls, overrides, sample_and_generated) for overrides in option_sets(cls))
    assert drops > 0


@pytest.fixture(scope="module")
def real_texts():
    texts = real_page_texts()
    if not texts:
        pytest.skip(f"real test data not present: {os.path.join(SHARED, 'extraction')}")
    return texts


@pytest.mark.parametrize("cls", [GopherRepetitionStage, GopherQualityStage], ids=lambda c: c.name)
def test_fast_stages_decide_and_measure_as_datatrove_on_real_pages(cls, real_texts):
    drops = sum(check_stage(cls, overrides, real_texts) for overrides in option_sets(cls))
    assert drops > 0


def test_ngram_counts_are_datatrove_counts_on_random_words():
    # few distinct words, some the concatenation of others ("ab" + "c" == "a" + "bc": one n-gram for
    # find_all_duplicate, which joins with ""), some with a space (" ".join is then not one-to-one), a lone surrogate
    rng = random.Random(0)
    vocab = ["a", "b", "ab", "ba", "c", "bc", "abc", "x y", "\ud800z", "é"]
    for _ in range(3000):
        words = [rng.choice(vocab[: rng.randint(1, len(vocab))]) for _ in range(rng.randint(0, 40))]
        alone, together = NGrams(words), NGrams(words, dup_ns=range(1, 12))  # hashes sorted per n, or all at once
        for n in range(1, 12):
            ngrams = get_n_grams(words, n)
            assert alone.top_duplicate(n) == (find_top_duplicate(ngrams) if ngrams else None), (words, n)
            assert alone.all_duplicate(n) == together.all_duplicate(n) == find_all_duplicate(words, n), (words, n)
        assert fast_find_duplicates(words) == find_duplicates(words)


def test_top_duplicate_ties_go_to_the_first_counted():
    # "b c" and "a b" both twice: Counter.most_common(1) returns the first counted, whose length is used
    words = ["a", "b", "c", "xx", "a", "b", "c"]
    assert NGrams(words).top_duplicate(2) == find_top_duplicate(get_n_grams(words, 2)) == 6
    words = ["long", "words", "x", "y", "x", "y", "long", "words"]
    assert NGrams(words).top_duplicate(2) == find_top_duplicate(get_n_grams(words, 2)) == 20


@pytest.fixture(scope="module")
def all_lines(sample_and_generated):
    from datatrove.pipeline.filters.c4_filters import CITATION_REGEX

    edge = ["U.S. policy.", "Hi!!!", 'He said "stop."', "Wait... what", "A. B", "x .y", "end .)", "Yes.\u2019",
            "Stop!?\u00bb", "one\u3002two", "Fine.[1]", "It is 3.5 m.", "e.g. this", "etc.\u00a0", "Why?\u00a0Why?"]
    lines = set(edge)
    for text in sample_and_generated + list(real_page_texts()):
        for line in text.splitlines():
            line = line.strip()
            lines.update(x for x in (line, CITATION_REGEX.sub("", line)) if x)  # C4 splits the line with citations gone
    return sorted(lines)


def test_one_sentence_shortcut_splits_as_datatrove(all_lines):
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from stages.c4_quality import C4QualityStage
    from stages.fast_filters import OneSentenceShortcut

    stage = C4QualityStage(**dataclasses.asdict(C4QualityStage.Params()))
    shortcut = stage.inner.language
    assert isinstance(shortcut, OneSentenceShortcut), "C4 splits sentences without the shortcut"
    datatrove_tokenizer = load_word_tokenizer("en")
    answered = 0
    for line in all_lines:
        got = shortcut.span_tokenize(line)
        if got == [(0, len(line))] and shortcut._sentence_end().search(line):
            answered += 1  # answered without spaCy: datatrove's own tokenizer must agree
            assert datatrove_tokenizer.span_tokenize(line) == got, line
        else:
            assert got == shortcut.inner.span_tokenize(line), line
    assert answered > 100
