"""Exact, faster equivalents of the counting in datatrove's Gopher filters, and their decisions.

datatrove's GopherRepetitionFilter builds every n-gram of a document as a string, nine times (n = 2..4 joined with
" " for the top n-gram, n = 5..10 joined with "" for the duplicated n-grams), and GopherQualityFilter loops over
every character of every word in Python. Here, for the same numbers:

- find_duplicates: the duplicates of a list of strings from one set (len and total length, minus the set's);
- NGrams(words).top_duplicate(n): the n-grams " ".join(words[i:i+n]) are told apart by word ids (one dict lookup
  per word), refined from n-1 to n with numpy (np.unique of (class of the (n-1)-gram, id of the next word)): while
  no word contains " ", two n-grams are the same string exactly when their words are the same. The winner is the
  most frequent n-gram, and among equally frequent ones the first to occur (Counter.most_common(1) returns the first
  counted of the maxima), its string length times its count. A word with a " " in it: datatrove's own function.
- NGrams(words).all_duplicate(n): datatrove's scan, visiting the n-grams "".join(words[i:i+n]) left to right,
  counting one already seen and jumping n ahead. An n-gram whose string occurs once in the document never counts
  and, once added, is never looked up: the scan is run over the others only, found with a polynomial hash of the
  characters (equal strings have equal hashes, so every n-gram that occurs twice is among them; a hash collision
  only adds one more to scan), and compared as the strings themselves (slices of the joined words).
- gopher_quality_counts: the per-word tests run once per distinct word, weighted by its count;
- OneSentenceShortcut: C4's per-line sentence count without spaCy for a line the sentencizer cannot split.

The datatrove originals are fingerprinted in stages/compat.py (COPIES) and tests/test_fast_filters.py compares
decisions and measured values with datatrove's filters, on every document of the sample and of the real pages.
"""

from collections import Counter

import numpy as np
from datatrove.utils.word_tokenizers import WordTokenizer

from stages.compat import find_top_duplicate as datatrove_find_top_duplicate
from stages.compat import get_n_grams as datatrove_get_n_grams

_B = np.uint64(0x9E3779B97F4A7C15)  # odd: invertible modulo 2**64
_B_INV = np.uint64(pow(int(_B), -1, 2**64))


def find_duplicates(x: list[str]) -> tuple[int, int]:
    """datatrove's find_duplicates: (elements equal to an earlier one, their total length)."""
    unique = set(x)
    return len(x) - len(unique), sum(map(len, x)) - sum(map(len, unique))


class NGrams:
    """The n-gram counts of datatrove's GopherRepetitionFilter for one document's words."""

    def __init__(self, words: list[str], dup_ns=()):
        """dup_ns: the n for which all_duplicate will be asked, prepared together (others are prepared alone)."""
        self.words = words
        self.n_words = len(words)
        index = {w: i for i, w in enumerate(dict.fromkeys(words))}
        self.ids = np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=len(words))
        self.n_ids = max(len(index), 1)
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        self.offsets = np.concatenate(([0], np.cumsum(lengths)))  # of each word in "".join(words)
        self.spaced_join_exact = " " not in "".join(index)  # no word with a space in it
        self.dup_ns = tuple(dict.fromkeys(dup_ns))
        self._classes = {1: self.ids}
        self._joined = None
        self._candidates = {}

    def _classes_of(self, n: int) -> np.ndarray:
        """For each n-gram start, an int equal for two starts exactly when their n words are equal."""
        if n not in self._classes:
            prev = self._classes_of(n - 1)
            count = self.n_words - n + 1
            key = prev[:count] * self.n_ids + self.ids[n - 1:]  # prev < n_words, ids < n_ids: no overflow
            self._classes[n] = np.unique(key, return_inverse=True)[1].reshape(-1)
        return self._classes[n]

    def top_duplicate(self, n: int) -> int | None:
        """datatrove's find_top_duplicate(get_n_grams(words, n)); None when there is no n-gram (datatrove skips)."""
        if self.n_words - n + 1 <= 0:
            return None
        if not self.spaced_join_exact:
            return datatrove_find_top_duplicate(datatrove_get_n_grams(self.words, n))
        classes = self._classes_of(n)
        counts = np.bincount(classes)[classes]  # of each n-gram's class, at each start
        top = counts.max()
        # the first counted of the most frequent: the first start whose n-gram is among the most frequent
        i = int(np.argmax(counts == top))
        chars = int(self.offsets[i + n] - self.offsets[i]) + n - 1  # the words and the n-1 spaces between them
        return chars * int(top)

    def _hashes(self, n: int) -> np.ndarray:
        """For each n-gram start, a hash of "".join(words[i:i+n]): equal strings, equal hashes."""
        if self._joined is None:
            self._joined = "".join(self.words)
            codes = np.frombuffer(self._joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
            powers = np.full(len(codes) + 1, _B, dtype=np.uint64)
            powers[0] = 1
            inverse = np.full(len(codes), _B_INV, dtype=np.uint64)
            inverse[:1] = 1
            self._powers = np.cumprod(powers)  # B**k, modulo 2**64
            # prefix[j] = sum of code[k] * B**-k for k < j, modulo 2**64 (numpy's unsigned arithmetic wraps)
            self._prefix = np.concatenate(([np.uint64(0)], np.cumsum(codes * np.cumprod(inverse), dtype=np.uint64)))
        starts, ends = self.offsets[: self.n_words - n + 1], self.offsets[n:]
        # the hash of joined[s:e]: sum of code[s+k] * B**-k, whatever s is
        return (self._prefix[ends] - self._prefix[starts]) * self._powers[starts]

    def _prepare(self, ns):
        """The starts, for each n of ns, of the n-grams whose hash occurs more than once: every n-gram whose string
        repeats is among them. One sort for all of ns: a hash is salted with its n (equal hashes across two n only
        make more candidates)."""
        ns = [n for n in ns if self.n_words - n + 1 > 0]
        for n in ns:
            self._candidates[n] = np.empty(0, dtype=np.int64)
        if not ns:
            return
        keys = np.concatenate([self._hashes(n) + np.uint64(n * int(_B) % 2**64) for n in ns])
        order = np.argsort(keys)
        ordered = keys[order]
        same = ordered[1:] == ordered[:-1]
        repeated = np.zeros(len(keys), dtype=bool)
        repeated[1:] |= same
        repeated[:-1] |= same
        mask = np.empty(len(keys), dtype=bool)
        mask[order] = repeated
        at = 0
        for n in ns:
            count = self.n_words - n + 1
            self._candidates[n] = np.flatnonzero(mask[at: at + count])
            at += count

    def all_duplicate(self, n: int) -> int:
        """datatrove's find_all_duplicate(words, n)."""
        if self.n_words - n + 1 <= 0:
            return 0
        if n not in self._candidates:
            self._prepare(self.dup_ns if n in self.dup_ns else (n,))
        candidates = self._candidates[n]
        if not len(candidates):
            return 0
        joined, offsets = self._joined, self.offsets.tolist()
        seen = set()
        repeated, resume = 0, 0  # the scan visits no start before `resume`
        for i in candidates.tolist():
            if i < resume:
                continue
            s, e = offsets[i], offsets[i + n]
            gram = joined[s:e]
            if gram in seen:
                repeated += e - s
                resume = i + n
            else:
                seen.add(gram)
        return repeated


def gopher_quality_counts(words: list[str], punctuation: set[str], stop_words: set[str]) -> dict:
    """What GopherQualityFilter computes from the words: the number of non-symbol words (a character outside
    `punctuation`), the total length of these, the number of words with a letter, the stop words present."""
    counts = Counter(words)
    non_symbol = non_symbol_chars = alpha = 0
    for w, c in counts.items():
        if not punctuation.issuperset(w):
            non_symbol += c
            non_symbol_chars += c * len(w)
        if any(map(str.isalpha, w)):
            alpha += c
    return {"non_symbol": non_symbol, "non_symbol_chars": non_symbol_chars, "alpha": alpha,
            "stop_words": len(stop_words.intersection(counts))}


class OneSentenceShortcut(WordTokenizer):
    """A word tokenizer for C4QualityFilter: the shared one (`inner`), except that span_tokenize answers a stripped
    text at once when spaCy's sentencizer cannot split it: every character from the first of the sentencizer's
    punctuation characters on is punctuation (Unicode category P*). The sentencizer starts a sentence at a token
    after one made of a punctuation character, when that token is neither punctuation (all its characters P*) nor a
    punctuation character: every token from that first character on is punctuation, and a token before it comes
    before any. One sentence then, from the first to the last token: the whole stripped text. Anything else goes to
    `inner`, as do word_tokenize and sent_tokenize."""

    def __init__(self, inner):
        super().__init__()
        import unicodedata

        self.inner = inner
        # built on first use: the characters come from the spaCy pipeline, which the process that builds the stages
        # (the run's main process) would otherwise load only for this (~1.2 s), and a task process loads anyway
        self._first_end = None
        self._category = unicodedata.category

    def _sentence_end(self):
        if self._first_end is None:
            self._first_end = self.inner.sentence_end_pattern()
        return self._first_end

    def word_tokenize(self, text):
        return self.inner.word_tokenize(text)

    def sent_tokenize(self, text):
        return self.inner.sent_tokenize(text)

    def span_tokenize(self, text):
        if text and text == text.strip() and not self.inner.left_to_datatrove(text):
            m = (self._first_end or self._sentence_end()).search(text)
            if m is not None:
                category = self._category
                if all(category(c)[0] == "P" for c in text[m.start():]):
                    return [(0, len(text))]
        return self.inner.span_tokenize(text)
