"""datatrove's spaCy word tokenizer, giving the same words and sentences for less work.

The four quality filters split every document into words (Gopher repetition, Gopher quality, FineWeb) and
every line into sentences (C4) with datatrove's `SpaCyTokenizer`, which is most of their time. The savings,
none of which changes a result (tests/test_word_tokens.py compares against datatrove's tokenizer, on real pages
and on generated text dense in spaCy's special cases):
- spaCy tokenizes each run of non-whitespace characters (a chunk: "word," or "(see") on its own, so the tokens
  of each chunk are remembered (up to `max_chunks` chunks, ~0.3 KB each) and a text is split at whitespace and looked up; new
  chunks are tokenized together, one call per text. The one step of spaCy's that looks across chunks, its
  special-case matcher, is covered: neighbours it might join are tokenized together in context (_CrossingRules);
- sentences are found over those tokens by the sentencizer's own rule (`_sentence_spans`), without a spaCy Doc;
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
import copyreg
import re
import sys
from collections import OrderedDict

from datatrove.utils.word_tokenizers import WordTokenizer, load_word_tokenizer

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


class _CrossingRules:
    """Which neighbouring chunks (runs of non-whitespace characters) spaCy's tokenizer might not tokenize apart.

    spaCy tokenizes each chunk on its own but in one step: its special-case matcher looks for the affix tokenization
    (the pattern) of every special case with affixes (":)", "Ala.", "10a.m.") over the whole document, and a match
    crossing a space, though never applied (its text, with the space, is no rule), may hide one that would have been.
    Such a match holds, for neighbours A B, the pair (A's last, B's first token before the matcher) as consecutive
    tokens of a pattern. The tokens known here are those after it: where a special case was applied at a chunk's
    edge, the edge token is the rule's own and the one before was its pattern's, so both are tried."""

    def __init__(self, nlp):
        from spacy.attrs import ORTH
        from spacy.tokenizer import Tokenizer

        tok = nlp.tokenizer
        plain = Tokenizer(nlp.vocab, rules={}, prefix_search=tok.prefix_search, suffix_search=tok.suffix_search,
                          infix_finditer=tok.infix_finditer, token_match=tok.token_match, url_match=tok.url_match)
        self.pairs, self.last_was, self.first_was = set(), {}, {}
        for string, substrings in tok.rules.items():
            # the strings spaCy adds to its matcher (Tokenizer.add_special_case)
            if tok.faster_heuristics and not (tok.find_prefix(string) or tok.find_infix(string)
                                              or tok.find_suffix(string) or " " in string):
                continue
            pattern, output = [t.text for t in plain(string)], [s[ORTH] for s in substrings]
            self.pairs.update(zip(pattern, pattern[1:]))
            self.last_was.setdefault(output[-1], {output[-1]}).add(pattern[-1])
            self.first_was.setdefault(output[0], {output[0]}).add(pattern[0])
        lasts, firsts = {a for a, _ in self.pairs}, {b for _, b in self.pairs}
        self.may_end = frozenset(lasts | {t for t, was in self.last_was.items() if was & lasts})
        self.may_start = frozenset(firsts | {t for t, was in self.first_was.items() if was & firsts})

    def joined(self, last: str, first: str) -> bool:
        pairs = self.pairs
        return any((a, b) in pairs for a in self.last_was.get(last, (last,)) for b in self.first_was.get(first, (first,)))


class FastSpacyTokenizer(SpacyTokenizerBase):
    def __init__(self, language: str, remember: int = 16, max_vocab: int = 300_000, max_chunks: int = 50_000):
        super().__init__(language)
        self.remember, self.max_vocab, self.max_chunks = remember, max_vocab, max_chunks
        self.rebuilds = 0
        self.whole_texts = 0  # texts spaCy tokenized whole (a run longer than MAX_RUN, or "IS_ALPHA")
        self.in_context = 0  # runs of chunks spaCy tokenized together (_chunk_entries)
        self._words: OrderedDict[str, list[str]] = OrderedDict()
        self._chunks: dict[str, tuple] = {}  # chunk -> (its tokens, may its last token join, may its first)
        self._crossing = None
        self._sentence_end = None
        self._punct: dict[str, bool] = {}
        self._sentence_ends = None
        self._rules = None

    @property
    def tokenizer(self):
        if not self.pipeline_built:
            import_spacy_without_torch()
            from spacy.attrs import IS_PUNCT

            nlp = super().tokenizer
            nlp.tokenizer.suffix_search = _tail_suffix_search(nlp.tokenizer.suffix_search)
            # spaCy computes some twenty attributes (norm, shape, prefix, ...) for each new word, most of the cost of
            # a first sighting; tokenizing uses none of them, the sentencizer only is_punct
            nlp.vocab.lex_attr_getters = {IS_PUNCT: nlp.vocab.lex_attr_getters[IS_PUNCT]}
        return super().tokenizer

    def __getstate__(self):
        # the spaCy pipeline and the remembered words are rebuilt in each worker process
        return {**super().__getstate__(), "_words": OrderedDict(), "_chunks": {}, "_crossing": None,
                "_sentence_end": None, "_punct": {}, "_sentence_ends": None, "_rules": None}

    def __reduce__(self):
        # the process's shared tokenizer (word_tokenizer) goes to a task as that process's own: a worker builds one
        # spaCy pipeline per language and keeps it for every task it runs (a run has a task per input file), where
        # a copy per task would build it again each time (~0.3 s)
        if _SHARED_BY_CODE.get(self.language) is self:
            return _shared_spacy, (self.language,)
        return copyreg.__newobj__, (type(self),), self.__getstate__()

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

    # -- chunks: spaCy's tokens of each run of non-whitespace characters, remembered across texts --------------
    def _chunk_entries(self, text: str, chunks: list[str]) -> list[tuple] | None:
        """(tokens, -, -, holds a sentence end) of each chunk: spaCy's tokens of each chunk of `text` (its runs of non-whitespace characters, in order), from what is
        remembered (new chunks tokenized together, _learn); None when spaCy must see the text whole: a chunk longer
        than MAX_RUN, or a token spanning chunks. Neighbours its special-case matcher might join (_CrossingRules)
        are tokenized together, in context: each run of them as the stretch of text it spans, which no match leaves."""
        entries = list(map(self._chunks.get, chunks))
        if None in entries:
            new = list(dict.fromkeys(c for c, e in zip(chunks, entries) if e is None))
            if any(len(c) > MAX_RUN for c in new):
                return None
            learned = self._learn(new)
            entries = [learned[c] if e is None else e for c, e in zip(chunks, entries)]
        crossing = self._crossing
        joined = [i for i, ((a, _, a_ends, _), (b, b_starts, _, _)) in enumerate(zip(entries, entries[1:]))
                  if a_ends and b_starts and crossing.joined(a[-1], b[0])]
        if joined:
            starts = [m.start() for m in _CHUNK.finditer(text)]
            for first, last in _runs(joined):
                self.in_context += 1
                offset, end = starts[first], starts[last] + len(chunks[last])
                stretch = text[offset:end]
                found, i = [[] for _ in range(first, last + 1)], first
                for token in self._nlp(stretch).make_doc(stretch):
                    if token.text.isspace():
                        continue
                    if _HAS_WHITESPACE.search(token.text):
                        return None  # a special case with a space in it, applied: spaCy sees the text whole
                    while offset + token.idx >= starts[i] + len(chunks[i]):
                        i += 1
                    found[i - first].append(token.text)
                entries[first : last + 1] = [self._entry(t) for t in found]
        return entries

    def _learn(self, chunks: list[str]) -> dict[str, tuple]:
        """Tokenizes new chunks in one call, one per line: a line break is a token of its own, which no special case
        holds (checked: a chunk's tokens make the chunk), so no match crosses it and each chunk gets its tokens as
        if alone."""
        text = "\n".join(chunks)
        nlp = self._nlp(text)
        if self._crossing is None:
            self._crossing = _CrossingRules(nlp)
        crossing = self._crossing
        if len(self._chunks) + len(chunks) > self.max_chunks:
            self._chunks.clear()  # bounds memory; results never depend on what is remembered
        single = self._single_token
        learned = {chunk: [chunk] for chunk in chunks if single(chunk)}
        rest = [chunk for chunk in chunks if chunk not in learned]
        if rest:
            text = "\n".join(rest)
            groups = [[]]
            for token in _token_texts(nlp.make_doc(text), text):
                if token == "\n":
                    groups.append([])
                else:
                    groups[-1].append(token)
            if len(groups) != len(rest) or any("".join(toks) != chunk for chunk, toks in zip(rest, groups)):
                # a special case holding a line break joined two: each chunk alone then
                groups = [_token_texts(nlp.make_doc(chunk), chunk) for chunk in rest]
            learned.update(zip(rest, groups))
        for chunk, toks in learned.items():
            self._chunks[sys.intern(chunk)] = learned[chunk] = self._entry(toks)
        return learned

    def _single_token(self, chunk: str) -> bool:
        """Whether spaCy's tokenizer leaves the chunk whole, by its own tests in its own order (Tokenizer._split_affixes,
        _attach_tokens): no special case, no prefix, no suffix, and a token_match or url_match or no infix. About half
        the new chunks of English text are such a word, and skip spaCy's Doc and vocabulary entry."""
        tok = self.tokenizer.tokenizer
        if self._rules is None:
            self._rules = frozenset(tok.rules)
        if chunk in self._rules or tok.find_prefix(chunk) or tok.find_suffix(chunk):
            return False
        if (tok.token_match and tok.token_match(chunk)) or (tok.url_match and tok.url_match(chunk)):
            return True
        return not tok.find_infix(chunk)

    def _entry(self, tokens: list[str]) -> tuple:
        """What is remembered of a chunk: its tokens, whether its first and its last token may be joined to a
        neighbour's (_CrossingRules), whether one of them is a sentence-end character."""
        if self._sentence_ends is None:
            self._sentence_ends = frozenset(self.sentence_end_chars())
        crossing, ends = self._crossing, self._sentence_ends
        tokens = tuple(map(sys.intern, tokens))  # "the" of "the," and of "(the" is one string
        return (tokens, tokens[0] in crossing.may_start, tokens[-1] in crossing.may_end, any(t in ends for t in tokens))

    def _tokenize_words(self, text: str) -> list[str]:
        if self.left_to_datatrove(text):
            return super().word_tokenize(text)
        chunks = text.split()  # str.split and spaCy split at the same (isspace) characters
        entries = self._chunk_entries(text, chunks)
        if entries is not None:
            # whitespace tokens are all that strip_strings removes: a chunk's tokens hold no whitespace
            return [t for entry in entries for t in entry[0]]
        self.whole_texts += 1
        if len(text) > MAX_RUN:
            text = _cut_long_runs(text)[0]
        return strip_strings([token.text for token in self._nlp(text).make_doc(text)])

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        if self.left_to_datatrove(text):
            return super().span_tokenize(text)
        if self._sentence_end is None:
            self._sentence_end = self.sentence_end_pattern()
        if text and text == text.strip() and not self._sentence_end.search(text):
            # the sentencizer only ends a sentence after one of its punctuation characters, and a sentence spans
            # its first to its last token: for a stripped text, all of it (C4 strips every line it splits)
            return [(0, len(text))]
        spans = self._sentence_spans(text)
        if spans is not None:
            return spans
        self.whole_texts += 1
        inserted = []
        if len(text) > MAX_RUN:
            text, inserted = _cut_long_runs(text)
        doc = self._nlp(text)(text, disable=["parser", "tagger", "ner"])
        spans = [(sent.start_char, sent.end_char) for sent in doc.sents]
        if inserted:  # offsets back into the text as given
            spans = [(a - bisect.bisect_left(inserted, a), b - bisect.bisect_left(inserted, b)) for a, b in spans]
        return spans

    def _sentence_spans(self, text: str) -> list[tuple[int, int]] | None:
        """spaCy's sentencizer over the remembered chunk tokens (None: see _chunk_entries). Its rule: a sentence
        starts at the first token, and at a token that is neither punctuation nor a sentence-end character after one
        that was a sentence-end character; a sentence ends with the token before the next start. Whitespace other
        than one space after a chunk is a token of its own, which is not punctuation."""
        parts = _WHITESPACE.split(text)  # chunk, whitespace, chunk, ...: a chunk "" at either end, where whitespace is
        entries = self._chunk_entries(text, [part for part in parts[0::2] if part])
        if entries is None:
            return None
        ends, is_punct = self._sentence_ends, self._is_punct
        starts, stops, seen, pos, chunk = [], [], False, 0, iter(entries)
        for i, part in enumerate(parts):
            if not part:
                continue
            if i % 2:
                skip = 1 if (part[0] == " " and pos > 0) else 0  # one space after a chunk is no token
                if len(part) > skip:
                    if seen or not starts:  # seen: a start (whitespace is neither punctuation nor an end)
                        starts.append(pos + skip)
                        stops.append(None)
                        seen = False
                    stops[-1] = pos + len(part)
                pos += len(part)
                continue
            tokens, _, _, holds_end = next(chunk)
            if starts and not seen and not holds_end:  # no start and no end in it: the sentence goes on
                pos += len(part)
                stops[-1] = pos
                continue
            for token in tokens:
                end = pos + len(token)
                if seen and token not in ends and not is_punct(token):
                    starts.append(pos)
                    stops.append(end)
                    seen = False
                else:
                    if not starts:
                        starts.append(pos)
                        stops.append(end)
                    seen = seen or token in ends
                    stops[-1] = end
                pos = end
        return list(zip(starts, stops))

    def _is_punct(self, token: str) -> bool:
        value = self._punct.get(token)
        if value is None:
            value = self._punct[token] = bool(self.tokenizer.vocab[token].is_punct)
        return value


_WHITESPACE = re.compile(r"(\s+)")  # Python's \s is str.isspace, spaCy's whitespace
_CHUNK = re.compile(r"\S+")
_HAS_WHITESPACE = re.compile(r"\s")


def _token_texts(doc, text: str) -> list[str]:
    """The tokens' texts, cut from the text by their offsets (spaCy's token objects cost more than the cut)."""
    from spacy.attrs import IDX, LENGTH

    return [text[i : i + n] for i, n in doc.to_array([IDX, LENGTH]).tolist()] if len(doc) else []


def _runs(joined: list[int]):
    """(first, last) chunk of each run of neighbours, from the sorted indices i of the joined pairs (i, i + 1)."""
    first = prev = joined[0]
    for i in joined[1:]:
        if i != prev + 1:
            yield first, prev + 1
            first = i
        prev = i
    yield first, prev + 1

class AlignedSpans(WordTokenizer):
    """datatrove's tokenizer `inner` (words, sentences and spans its own), except where its span_tokenize raises:
    the tokenizers that find spans by looking each sentence up in the text (datatrove's simple_span_tokenize:
    PyThaiNLP, IndicNLP, Khmer, Lao, Burmese, whitespace) raise ValueError when the sentence splitter rewrote a
    sentence (IndicNLP turns "..", in Marathi news text, into ". ."), which fails the C4 stage on that document.
    There the spans are found by walking the text and each sentence together, whitespace skipped on both sides; a
    sentence that still does not match makes the whole text one span."""

    def __init__(self, inner):
        super().__init__(getattr(inner, "language", None))
        self.inner = inner
        self.realigned = 0  # texts whose spans datatrove could not give

    def word_tokenize(self, text):
        return self.inner.word_tokenize(text)

    def sent_tokenize(self, text):
        return self.inner.sent_tokenize(text)

    def span_tokenize(self, text):
        try:
            return self.inner.span_tokenize(text)
        except ValueError:
            self.realigned += 1
            return aligned_spans(text, self.inner.sent_tokenize(text))


def aligned_spans(text: str, sentences: list[str]) -> list[tuple[int, int]]:
    """(start, end) of each sentence in text, comparing the two without their whitespace."""
    spans, pos = [], 0
    for sentence in sentences:
        chars = [c for c in sentence if not c.isspace()]
        if not chars:
            continue
        while pos < len(text) and text[pos].isspace():
            pos += 1
        start = pos
        for c in chars:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text) or text[pos] != c:
                return [(0, len(text))] if text else []
            pos += 1
        spans.append((start, pos))
    return spans


# datatrove's tokenizers whose span_tokenize looks sentences up in the text (simple_span_tokenize)
_LOOKED_UP_SPANS = ("ThaiTokenizer", "IndicNLPTokenizer", "KhmerTokenizer", "LaoTokenizer", "WhitespaceTokenizer",
                    "BurmeseTokenizer")

_SHARED: dict[str, object] = {}
_SHARED_BY_CODE: dict[str, "FastSpacyTokenizer"] = {}  # spaCy code -> the one FastSpacyTokenizer of this process


def _shared_spacy(code: str) -> "FastSpacyTokenizer":
    if code not in _SHARED_BY_CODE:
        _SHARED_BY_CODE[code] = FastSpacyTokenizer(code)
    return _SHARED_BY_CODE[code]


def word_tokenizer(language):
    """One tokenizer per language and process, shared by the stages so they share what it remembers. `language` is
    any key of datatrove's tokenizer assignment ("en", "fra_Latn", "ar", ...): the spaCy pipeline is the one
    datatrove assigns to it (for "ar" its multi-language "xx", for "nn" Norwegian Bokmal's "nb"), never one built
    from the key itself. Keys datatrove gives another tokenizer (jieba or Sudachi through spaCy, Kiwi, PyThaiNLP,
    IndicNLP, ...) get datatrove's own, its spans made safe where they are looked up (AlignedSpans)."""
    if not isinstance(language, str):
        return load_word_tokenizer(language)
    if language not in _SHARED:
        code = spacy_assigned(language)
        if code is None:
            tok = load_word_tokenizer(language)
            _SHARED[language] = AlignedSpans(tok) if type(tok).__name__ in _LOOKED_UP_SPANS else tok
        else:  # keys assigned the same spaCy code share one tokenizer
            _SHARED[language] = _shared_spacy(code)
    return _SHARED[language]
