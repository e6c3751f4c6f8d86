"""datatrove's spaCy word tokenizer, giving the same words and sentences for less work.

The four quality filters split every document into words (Gopher repetition, Gopher quality, FineWeb) and
every line into sentences (C4) with datatrove's `SpaCyTokenizer`, which is most of their time. Three savings,
none of which changes a result (tests/test_word_tokens.py compares against datatrove's tokenizer):
- words come from spaCy's tokenizer alone: datatrove runs the whole pipeline, sentencizer included, to get
  tokens the sentencizer does not change;
- the words of the last few texts are remembered: the same text reaches three filters, and datatrove's own
  5-entry cache is flushed in between by C4's per-line sentence splitting;
- a text with none of the sentencizer's punctuation characters is one sentence, without running spaCy;
- spaCy's vocabulary is kept from one document to the next: datatrove tokenizes each text in a memory zone,
  which throws away the entries (lexemes) of every word it created, so each document pays again for words the
  previous one had; here the whole spaCy pipeline is rebuilt instead once its vocabulary passes `max_vocab`
  entries, which bounds memory the same way;
- spaCy is imported without torch: thinc, under spaCy, imports torch (4 s and 180 MB per process) only to offer it
  as a backend, which a blank tokenizer never uses.

Two guards keep tokenizing linear in the text (tests/test_linear_time.py); spaCy alone is quadratic in the
length of a run of characters without whitespace that it peels one affix at a time ("!!!!...", "((((...",
"====...", "$$$$..."): 2,000 "!" take 0.5 s, 100 KB of them about 20 minutes, in every quality filter.
- its suffix search runs over the whole rest of the run at each step (its pattern is unanchored, ending in "$");
  here it starts `_SUFFIX_TAIL` characters from the end, which finds the same suffix (every suffix rule is
  shorter than that but the one for runs of dots, and such a run is found from there too, then searched in full);
- each step still copies and hashes the rest of the run, so a run longer than `MAX_RUN` characters is
  tokenized in pieces of `MAX_RUN`, as if spaces were between them: the only place where words can differ from
  spaCy's, on runs no text of words has (C4 already skips lines holding a "word" of more than 1,000 characters).
"""

import bisect
import re
import sys
from collections import OrderedDict

from datatrove.utils.word_tokenizers import load_word_tokenizer

from stages.compat import SpacyTokenizerBase, spacy_assigned, strip_strings
MAX_RUN = 1000
_LONG_RUN = re.compile(rf"(?<!\S)\S{{{MAX_RUN + 1},}}")  # starts only where a run starts: one pass
_SUFFIX_TAIL = 32


def _tail_suffix_search(search):
    """spaCy's suffix search, starting near the end of the string (the same match, see the module's doc)."""

    def suffix_search(string):
        start = len(string) - _SUFFIX_TAIL
        if start <= 0:
            return search(string)
        m = search(string, start)  # lookbehinds still see the characters before `start`
        if m is not None and m.start() == start:  # may go on further left: a run of dots
            return search(string)
        return m

    suffix_search.__self__ = search.__self__  # spaCy reads the pattern back from it when it serializes
    return suffix_search


def _cut_long_runs(text: str) -> tuple[str, list[int]]:
    """The text with a space after every MAX_RUN characters of a longer run, and where those spaces went."""
    inserted, parts, pos = [], [], 0
    for m in _LONG_RUN.finditer(text):
        parts.append(text[pos : m.start()])
        for i in range(m.start(), m.end(), MAX_RUN):
            if i > m.start():
                inserted.append(i + len(inserted))
                parts.append(" ")
            parts.append(text[i : min(i + MAX_RUN, m.end())])
        pos = m.end()
    parts.append(text[pos:])
    return "".join(parts), inserted


def import_spacy_without_torch():
    if "spacy" in sys.modules or "torch" in sys.modules:
        import spacy  # noqa: F401 - already imported, or torch is here anyway
        return
    sys.modules["torch"] = None  # makes thinc's `import torch` fail, as when torch is not installed
    try:
        import spacy  # noqa: F401
    finally:
        del sys.modules["torch"]  # a later `import torch` works as usual


class FastSpacyTokenizer(SpacyTokenizerBase):
    def __init__(self, language: str, remember: int = 16, max_vocab: int = 300_000):
        super().__init__(language)
        self.remember, self.max_vocab = remember, max_vocab
        self.rebuilds = 0
        self._words: OrderedDict[str, list[str]] = OrderedDict()
        self._sentence_end = None

    @property
    def tokenizer(self):
        if not self.pipeline_built:
            import_spacy_without_torch()
            nlp = super().tokenizer
            nlp.tokenizer.suffix_search = _tail_suffix_search(nlp.tokenizer.suffix_search)
        return super().tokenizer

    def __getstate__(self):
        # the spaCy pipeline and the remembered words are rebuilt in each worker process
        return {**super().__getstate__(), "_words": OrderedDict(), "_sentence_end": None}

    def word_tokenize(self, text: str) -> list[str]:
        words = self._words.get(text)
        if words is None:
            words = self._tokenize_words(text)
            self._words[text] = words
            if len(self._words) > self.remember:
                self._words.popitem(last=False)
        else:
            self._words.move_to_end(text)
        return list(words)  # callers may change their list; ours stays as it was

    def _nlp(self, text: str):
        if self.pipeline_built and len(self.tokenizer.vocab) > self.max_vocab:
            self.forget_pipeline()  # rebuilt below, with a fresh vocabulary
            self.rebuilds += 1
        nlp = self.tokenizer
        nlp.max_length = len(text) + 10
        return nlp

    def _tokenize_words(self, text: str) -> list[str]:
        if self.left_to_datatrove(text):
            return super().word_tokenize(text)
        if len(text) > MAX_RUN:
            text = _cut_long_runs(text)[0]
        return strip_strings([token.text for token in self._nlp(text).make_doc(text)])

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        if self.left_to_datatrove(text):
            return super().span_tokenize(text)
        if self._sentence_end is None:
            chars = self.sentence_end_chars()
            self._sentence_end = re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + "]")
        if text and text == text.strip() and not self._sentence_end.search(text):
            # the sentencizer only ends a sentence after one of its punctuation characters, and a sentence spans
            # its first to its last token: for a stripped text, all of it (C4 strips every line it splits)
            return [(0, len(text))]
        inserted = []
        if len(text) > MAX_RUN:
            text, inserted = _cut_long_runs(text)
        doc = self._nlp(text)(text, disable=["parser", "tagger", "ner"])
        spans = [(sent.start_char, sent.end_char) for sent in doc.sents]
        if inserted:  # offsets back into the text as given
            spans = [(a - bisect.bisect_left(inserted, a), b - bisect.bisect_left(inserted, b)) for a, b in spans]
        return spans


_SHARED: dict[str, object] = {}


def word_tokenizer(language):
    """One tokenizer per language and process, shared by the stages so they share what it remembers."""
    if not isinstance(language, str):
        return load_word_tokenizer(language)
    if language not in _SHARED:
        _SHARED[language] = FastSpacyTokenizer(language) if spacy_assigned(language) else load_word_tokenizer(language)
    return _SHARED[language]
