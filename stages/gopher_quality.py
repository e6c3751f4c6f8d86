"""Stage `gopher_quality`: Gopher's quality rules (datatrove GopherQualityFilter, FineWeb defaults)."""

from dataclasses import dataclass

from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
from datatrove.utils.text import PUNCTUATION_SET, split_into_words

from stages.fast_filters import gopher_quality_counts
from stages.quality import DatatroveFilterStage, profiles_key, ratio
from stages.registry import Threshold, key


@dataclass
class GopherQualityParams:
    min_doc_words: int | None = key(50, min=0, help="fewest words (not counting symbols)")
    max_doc_words: int | None = key(100000, min=0, help="most words")
    min_avg_word_length: int | None = key(3, min=0, help="shortest mean word length")
    max_avg_word_length: int | None = key(10, min=0, help="longest mean word length")
    max_symbol_word_ratio: float | None = ratio(0.1, "most '#' and ellipses per word")
    max_bullet_lines_ratio: float | None = ratio(0.9, "largest share of lines starting with a bullet")
    max_ellipsis_lines_ratio: float | None = ratio(0.3, "largest share of lines ending with an ellipsis")
    max_non_alpha_words_ratio: float | None = ratio(0.8, "smallest share of words with a letter (datatrove's name)")
    min_stop_words: int | None = key(2, min=0, help="fewest stop words")
    stop_words: list[str] | None = key(None, help="null: Gopher's eight English stop words")
    profiles: bool = profiles_key()

    def problems(self) -> list[str]:
        out = []
        for low, high in (("min_doc_words", "max_doc_words"), ("min_avg_word_length", "max_avg_word_length")):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                out.append(f"{low} ({a}) must not exceed {high} ({b})")
        return out


class GopherQualityStage(DatatroveFilterStage):
    name = "gopher_quality"
    filter_class = GopherQualityFilter
    order = 50
    summary = "datatrove GopherQualityFilter (FineWeb defaults)"
    Params = GopherQualityParams
    mirrors = GopherQualityFilter
    reasons = ("gopher_short_doc", "gopher_long_doc", "gopher_below_avg_threshold", "gopher_above_avg_threshold",
               "gopher_too_many_hashes", "gopher_too_many_ellipsis", "gopher_too_many_bullets",
               "gopher_too_many_end_ellipsis", "gopher_below_alpha_threshold", "gopher_enough_stop_words")
    inspect_metrics = ("chars", *reasons)
    # datatrove's rules, each a metric against a key (max_symbol_word_ratio thresholds two metrics: left out)
    thresholds = (Threshold("min_doc_words", "gopher_short_doc", ">=", "gopher_short_doc"),
                  Threshold("max_doc_words", "gopher_long_doc", "<=", "gopher_long_doc"),
                  Threshold("min_avg_word_length", "gopher_below_avg_threshold", ">=", "gopher_below_avg_threshold"),
                  Threshold("max_avg_word_length", "gopher_above_avg_threshold", "<=", "gopher_above_avg_threshold"),
                  Threshold("max_bullet_lines_ratio", "gopher_too_many_bullets", "<=", "gopher_too_many_bullets"),
                  Threshold("max_ellipsis_lines_ratio", "gopher_too_many_end_ellipsis", "<=",
                            "gopher_too_many_end_ellipsis"),
                  Threshold("max_non_alpha_words_ratio", "gopher_below_alpha_threshold", ">=",
                            "gopher_below_alpha_threshold"),
                  Threshold("min_stop_words", "gopher_enough_stop_words", ">=", "gopher_enough_stop_words"))

    decides_itself = True  # with stages/fast_filters.py's counts: tests/test_fast_filters.py

    def counts(self, text: str):
        words = split_into_words(text, self.inner.language)
        return words, gopher_quality_counts(words, PUNCTUATION_SET, self.inner.stop_words)

    def rules(self, text):
        # GopherQualityFilter.filter, rule by rule (COPIES in stages/compat.py); it divides where it does
        f = self.inner
        words, c = self.counts(text)
        n_words, non_symbol = len(words), c["non_symbol"]
        yield "gopher_short_doc", non_symbol, bool(f.min_doc_words) and non_symbol < f.min_doc_words
        yield "gopher_long_doc", non_symbol, bool(f.max_doc_words) and non_symbol > f.max_doc_words
        # numpy's mean of the lengths (exact sums, one division), nan without words: no threshold drops for nan
        mean = c["non_symbol_chars"] / non_symbol if non_symbol else float("nan")
        yield "gopher_below_avg_threshold", mean, bool(f.min_avg_word_length) and mean < f.min_avg_word_length
        yield "gopher_above_avg_threshold", mean, bool(f.max_avg_word_length) and mean > f.max_avg_word_length
        if f.max_symbol_word_ratio:
            v = text.count("#") / n_words
            yield "gopher_too_many_hashes", v, v > f.max_symbol_word_ratio
            v = (text.count("...") + text.count("…")) / n_words
            yield "gopher_too_many_ellipsis", v, v > f.max_symbol_word_ratio
        lines = text.splitlines()
        if f.max_bullet_lines_ratio:
            v = sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines)
            yield "gopher_too_many_bullets", v, v > f.max_bullet_lines_ratio
        if f.max_ellipsis_lines_ratio:
            v = sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines)
            yield "gopher_too_many_end_ellipsis", v, v > f.max_ellipsis_lines_ratio
        if f.max_non_alpha_words_ratio:
            v = c["alpha"] / n_words
            yield "gopher_below_alpha_threshold", v, v < f.max_non_alpha_words_ratio
        if f.min_stop_words:
            v = c["stop_words"]
            yield "gopher_enough_stop_words", v, v < f.min_stop_words

    def measures(self, text):
        words, c = self.counts(text)
        n_words = max(len(words), 1)
        non_symbol = c["non_symbol"]
        lines = text.splitlines() or [""]
        out = {"gopher_short_doc": non_symbol, "gopher_long_doc": non_symbol}
        if non_symbol:  # else datatrove's mean is nan, which no threshold drops for
            # numpy's mean of the lengths, as datatrove takes it: the sum is exact, then one division
            out["gopher_below_avg_threshold"] = out["gopher_above_avg_threshold"] = c["non_symbol_chars"] / non_symbol
        return out | {
            "gopher_too_many_hashes": text.count("#") / n_words,
            "gopher_too_many_ellipsis": (text.count("...") + text.count("…")) / n_words,
            "gopher_too_many_bullets": sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines),
            "gopher_too_many_end_ellipsis": sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines),
            "gopher_below_alpha_threshold": c["alpha"] / n_words,
            "gopher_enough_stop_words": c["stop_words"],
        }
