"""refinery's faster spaCy tokenizer gives exactly datatrove's words and sentences."""

import copy
import glob
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from datatrove.utils.text import split_into_parts
from datatrove.utils.word_tokenizers import SpaCyTokenizer

from conftest import ROOT
from stages.word_tokens import FastSpacyTokenizer, word_tokenizer

TRICKY = [
    "",
    "   ",
    "one line without an end",
    "  padded line without an end  ",
    "Two sentences. Here is the second!",
    "Ends with a question?",
    "e.g. abbreviations, U.S. and 3.14 numbers",
    "Line one\nLine two. Still two\n\nthree",
    "tabs\tand  double  spaces, and a dash — an em dash",
    # (not "IS_ALPHA ...": datatrove's own tokenizer gives a different answer on each call for it, a spaCy bug;
    # refinery hands such text to datatrove's code unchanged)
    "日本語の文。次の文！",
    "emoji 🙂 and https://example.org/a.b?c=d URLs",
]


def test_same_words_and_sentences_as_datatrove(sample_run):
    stock, fast = SpaCyTokenizer("en"), FastSpacyTokenizer("en")
    docs = list(TRICKY)
    for path in sorted(glob.glob(os.path.join(sample_run[0], "documents", "*.parquet")))[:1]:
        docs += pq.read_table(path, columns=["text"]).column("text").to_pylist()[:60]
    lines = [line.strip() for d in docs for line in d.splitlines()]
    for text in docs + lines:
        assert fast.word_tokenize(text) == stock.word_tokenize(text), text[:80]
        assert fast.word_tokenize(text) == stock.word_tokenize(text), text[:80]  # remembered copy
        assert fast.span_tokenize(text) == stock.span_tokenize(text), text[:80]
        assert split_into_parts(text, "SENTENCE", fast) == split_into_parts(text, "SENTENCE", stock), text[:80]


def test_remembered_words_cannot_be_changed_by_a_caller():
    fast = FastSpacyTokenizer("en")
    words = fast.word_tokenize("a b c")
    words.append("x")
    assert fast.word_tokenize("a b c") == ["a", "b", "c"]


def test_one_shared_tokenizer_per_language_and_it_pickles():
    import pickle

    tok = word_tokenizer("en")
    assert word_tokenizer("en") is tok and isinstance(tok, FastSpacyTokenizer)
    tok.word_tokenize("warm it up")
    # the shared one arrives in a process as that process's shared one: built once per process, not per task
    assert pickle.loads(pickle.dumps(tok)) is tok and copy.deepcopy(tok) is tok
    script = ("import pickle, sys; from stages.word_tokens import word_tokenizer; "
              "t = pickle.loads(sys.stdin.buffer.read()); "
              "print(t is word_tokenizer('en'), t._tokenizer is None, t.word_tokenize('warm it up'))")
    proc = subprocess.run([sys.executable, "-c", script], input=pickle.dumps(tok), capture_output=True, cwd=ROOT)
    assert proc.stdout.decode().split(None, 2) == ["True", "True", "['warm', 'it', 'up']\n"], proc.stderr.decode()
    other = FastSpacyTokenizer("en")  # not the shared one: pickled as itself, without its pipeline
    other.word_tokenize("warm it up")
    copied = pickle.loads(pickle.dumps(other))
    assert copied is not other and copied._tokenizer is None and copied.word_tokenize("warm it up") == ["warm", "it", "up"]


def test_vocabulary_is_bounded_and_rebuilding_changes_nothing():
    small, stock = FastSpacyTokenizer("en", max_vocab=1000), SpaCyTokenizer("en")
    for i in range(120):
        text = f"Document {i} talks about (topic{i}) and word{i * 7}, among many other shared words. Second sentence {i}!"
        assert small.word_tokenize(text) == stock.word_tokenize(text)
        assert small.span_tokenize(text) == stock.span_tokenize(text)
        # rebuilt once past the bound (one text's words over); a word spaCy leaves whole never enters it
        assert len(small._tokenizer.vocab) <= 1000 + 40
    assert small.rebuilds >= 1


def test_curation_process_never_imports_torch():
    # thinc (under spaCy) would import torch just to offer it as a backend: 4 s and ~180 MB per task process
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from pipeline.config import load_config\n"
        "from pipeline.preflight import check_dependencies\n"
        "from stages.word_tokens import word_tokenizer\n"
        "check_dependencies(load_config('configs/fineweb.yaml'))\n"
        "assert word_tokenizer('en').span_tokenize('One. Two.') == [(0, 4), (5, 9)]\n"
        "print('torch' in sys.modules)\n"
    )
    from conftest import ROOT

    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


# runs spaCy peels one affix at a time, which it alone does in quadratic time (see stages/word_tokens.py)
AFFIX_RUNS = [
    "!" * 700,
    "(" * 300 + "word" + ")" * 300,
    "Wait" + "!" * 400 + " what" + "?" * 200,
    "=" * 80 + " Title " + "=" * 80,
    "$" * 300 + "5 and 5" + "$" * 300,
    "." * 500 + " and .." + "a." * 200,
    "“" + "'" * 300 + "quoted" + "'" * 300 + "”. Next sentence!",
    "100km" + ")" * 200 + " 3.5°C. 12US$ 50%" + "%" * 100,
    "he's" + "'s" * 150 + " fine",
]


def test_same_words_and_sentences_on_affix_runs():
    stock, fast = SpaCyTokenizer("en"), FastSpacyTokenizer("en")
    for text in AFFIX_RUNS:
        assert fast.word_tokenize(text) == stock.word_tokenize(text), text[:40]
        assert fast.span_tokenize(text) == stock.span_tokenize(text), text[:40]


def test_runs_longer_than_max_run_lose_no_character():
    from stages.word_tokens import MAX_RUN

    stock, fast = SpaCyTokenizer("en"), FastSpacyTokenizer("en")
    text = "Start. " + "!" * (2 * MAX_RUN + 7) + " middle? " + "x" * (MAX_RUN + 1) + " end."
    words = fast.word_tokenize(text)
    assert "".join(words) == text.replace(" ", "")
    assert words.count("!") == 2 * MAX_RUN + 7 and words[-4:] == ["x" * MAX_RUN, "x", "end", "."]  # cut after MAX_RUN
    assert fast.span_tokenize(text) == stock.span_tokenize(text)  # offsets into the text as given


def _special_case_dense_texts(n: int, seed: int) -> list[str]:
    """Texts made of spaCy's special cases (emoticons, abbreviations, contractions, "10a.m."), pieces of them and
    plain words, glued or apart by every kind of whitespace: where tokens of neighbouring chunks could interact."""
    import random

    rules = sorted(SpaCyTokenizer("en").tokenizer.tokenizer.rules)
    pieces = ["the", "Ala", "a", "m", "and", "it", "s", "'s", "8", "10", "p", "D", "co", "e.g", "U.S.", "3.14",
              "(", ")", ":", ".", ",", "!", "?", "-", "'", '"', "—", "…", "🙂", "Mr", "!!", "...", "_", "^_^"]
    gaps = [" ", " ", " ", "", "", "  ", "\n", "\t", " \t", "\xa0", "\u3000", " \n "]
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 14)):
            parts += [rng.choice(rules) if rng.random() < 0.4 else rng.choice(pieces), rng.choice(gaps)]
        text = "".join(parts)
        texts.append(text.strip() if rng.random() < 0.5 else text)
    return texts


def test_same_words_and_sentences_on_text_dense_in_special_cases():
    stock, fast = SpaCyTokenizer("en"), FastSpacyTokenizer("en", remember=0)
    for text in _special_case_dense_texts(2500, seed=1):
        assert fast.word_tokenize(text) == stock.word_tokenize(text), repr(text)
        assert fast.span_tokenize(text) == stock.span_tokenize(text), repr(text)
    assert fast.in_context > 0  # neighbours were tokenized together, in context, and still gave spaCy's words


def test_same_words_and_sentences_on_every_real_page():
    from test_fast_filters import real_page_texts

    texts = real_page_texts()
    if not texts:
        pytest.skip("../shared/data is absent")
    stock, fast = SpaCyTokenizer("en"), FastSpacyTokenizer("en", remember=0)
    for text in texts:
        assert fast.word_tokenize(text) == stock.word_tokenize(text), text[:80]
        for line in text.splitlines():
            line = line.strip()
            assert fast.span_tokenize(line) == stock.span_tokenize(line), line[:80]


def test_a_special_case_across_a_space_is_applied_as_spacy_applies_it():
    # spaCy's special-case matcher works on the whole text: a case with a space in it joins tokens of two chunks,
    # which chunk by chunk would be "foo" "." and "(" "bar"
    from spacy.attrs import ORTH

    stock, fast = SpaCyTokenizer("en"), FastSpacyTokenizer("en", remember=0)
    for tok in (stock, fast):
        tok.tokenizer.tokenizer.add_special_case("foo. (bar", [{ORTH: "foo. (bar"}])
    assert stock.word_tokenize("a foo. (bar b") == ["a", "foo. (bar", "b"]
    for text in ("a foo. (bar b", "foo. (bar", "a foo. (baz b. foo. (bar!", "(bar foo. b", "foo.\n(bar",
                 "foo.  (bar. Next", "One. foo. (bar. Two"):
        assert fast.word_tokenize(text) == stock.word_tokenize(text), text
        assert fast.span_tokenize(text) == stock.span_tokenize(text), text


def test_every_datatrove_language_key_tokenizes_as_datatrove_does():
    # the key is looked up in datatrove's assignment: "fra_Latn" is spaCy's "fr", "ar" its multi-language "xx" (which
    # splits "Frodo." where spaCy's own "ar" does not), "nn" Bokmal's "nb", "sa" Albanian's "sq" (datatrove's proxy)
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    texts = ["Frodo. Ceci est une phrase, n'est-ce pas? Ja! Das ist gut. (Hello) 3.14 — ok…",
             "قال فرودو. هذه جملة! Это предложение. Bu bir cümledir?  Dette er ei setning.\tKraj."]
    for key in ("fra_Latn", "eng_Latn", "deu_Latn", "ar", "arb_Arab", "az", "kn", "tt", "nn", "sa", "rus_Cyrl"):
        ours, theirs = word_tokenizer(key), load_word_tokenizer(key)
        assert isinstance(ours, FastSpacyTokenizer) and ours.language == theirs.language, key
        for text in texts:
            assert ours.word_tokenize(text) == theirs.word_tokenize(text), (key, text)
            assert ours.span_tokenize(text) == theirs.span_tokenize(text), (key, text)
    assert word_tokenizer("ar") is word_tokenizer("kn")  # both datatrove's "xx": one tokenizer, one memory
    assert word_tokenizer("ar").word_tokenize("Frodo.") == ["Frodo", "."]
    # a key datatrove gives a segmenter of its own (Japanese: its Sudachi fix) is left to datatrove's tokenizer
    assert not isinstance(word_tokenizer("jpn_Jpan"), FastSpacyTokenizer)
