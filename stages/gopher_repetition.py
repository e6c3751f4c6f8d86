"""Stage `gopher_repetition`: Gopher's repetition rules (datatrove GopherRepetitionFilter, FineWeb defaults)."""

from dataclasses import dataclass

from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter
from datatrove.utils.text import split_into_words

from stages.compat import repetition_parts
from stages.fast_filters import NGrams, find_duplicates
from stages.quality import DatatroveFilterStage, ngram_problems, profiles_key, ratio
from stages.registry import key


@dataclass
class GopherRepetitionParams:
    dup_line_frac: float | None = ratio(0.3, "drop above this share of duplicated lines")
    dup_para_frac: float | None = ratio(0.3, "drop above this share of duplicated paragraphs")
    dup_line_char_frac: float | None = ratio(0.2, "drop above this share of characters in duplicated lines")
    dup_para_char_frac: float | None = ratio(0.2, "drop above this share of characters in duplicated paragraphs")
    top_n_grams: list[tuple[int, float]] = key([[2, 0.2], [3, 0.18], [4, 0.16]],
                                               help="[n, fraction]: drop when the most frequent n-gram covers more")
    dup_n_grams: list[tuple[int, float]] = key([[5, 0.15], [6, 0.14], [7, 0.13], [8, 0.12], [9, 0.11], [10, 0.1]],
                                               help="[n, fraction]: drop when duplicated n-grams cover more")
    profiles: bool = profiles_key()

    def problems(self) -> list[str]:
        return ngram_problems(self.top_n_grams, "top_n_grams") + ngram_problems(self.dup_n_grams, "dup_n_grams")


class GopherRepetitionStage(DatatroveFilterStage):
    name = "gopher_repetition"
    filter_class = GopherRepetitionFilter
    order = 40
    summary = "datatrove GopherRepetitionFilter (FineWeb defaults)"
    Params = GopherRepetitionParams
    mirrors = GopherRepetitionFilter
    reasons = ("empty", "dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac",
               "top_2_gram", "top_3_gram", "top_4_gram", "duplicated_5_n_grams", "duplicated_6_n_grams",
               "duplicated_7_n_grams", "duplicated_8_n_grams", "duplicated_9_n_grams", "duplicated_10_n_grams")
    inspect_metrics = ("chars", *reasons)  # top_N_gram / duplicated_N_n_grams for the n of the configured pairs

    decides_itself = True  # with stages/fast_filters.py's counts: tests/test_fast_filters.py

    def __init__(self, output=None, **params):
        super().__init__(output, **params)
        self._grams = (None, None, None)

    def ngrams(self, text: str) -> NGrams:
        """The n-gram counts of the text's words, kept for the last text (measured again for removed/, inspect/)."""
        if self._grams[0] is not text or self._grams[1] is not self.inner:  # another language: other words
            self._grams = (text, self.inner, NGrams(split_into_words(text, self.inner.language),
                                                    [n for n, _ in self.inner.dup_n_grams]))
        return self._grams[2]

    def rules(self, text):
        # GopherRepetitionFilter.filter, rule by rule (COPIES in stages/compat.py)
        f = self.inner
        if not text:
            yield "empty", 0.0, True
            return
        for kind, parts in zip(("para", "line"), repetition_parts(f, text)):
            dup_items, dup_chars = find_duplicates(parts)
            frac, char_frac = getattr(f, f"dup_{kind}_frac"), getattr(f, f"dup_{kind}_char_frac")
            v = dup_items / len(parts)
            yield f"dup_{kind}_frac", v, bool(frac) and v > frac
            v = dup_chars / len(text)
            yield f"dup_{kind}_char_frac", v, bool(char_frac) and v > char_frac
        grams = self.ngrams(text)
        for n, frac in f.top_n_grams:
            top = grams.top_duplicate(n)
            # fewer than n words: no n-gram repeats (datatrove skips the rule; its counter would fail on none)
            v = 0.0 if top is None else top / len(text)
            yield f"top_{n}_gram", v, top is not None and v > frac
        for n, frac in f.dup_n_grams:
            v = grams.all_duplicate(n) / len(text)
            yield f"duplicated_{n}_n_grams", v, v > frac

    def measures(self, text):
        return {reason: value for reason, value, _ in self.rules(text)}
