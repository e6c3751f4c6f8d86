"""Stage `gopher_quality`: Gopher's quality rules (datatrove GopherQualityFilter, FineWeb defaults)."""

from dataclasses import dataclass

import numpy as np
from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
from datatrove.utils.text import PUNCTUATION_SET, split_into_words

from stages.quality import DatatroveFilterStage, ratio
from stages.registry import key


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

    def measures(self, text):
        words = split_into_words(text, self.inner.language)
        n_words = max(len(words), 1)
        non_symbol = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
        lines = text.splitlines() or [""]
        out = {"gopher_short_doc": len(non_symbol), "gopher_long_doc": len(non_symbol)}
        if non_symbol:  # else datatrove's mean is nan, which no threshold drops for
            # numpy's mean, as datatrove takes it: a threshold set to this value is met exactly
            mean = float(np.mean([len(w) for w in non_symbol]))
            out["gopher_below_avg_threshold"] = out["gopher_above_avg_threshold"] = mean
        return out | {
            "gopher_too_many_hashes": text.count("#") / n_words,
            "gopher_too_many_ellipsis": (text.count("...") + text.count("…")) / n_words,
            "gopher_too_many_bullets": sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines),
            "gopher_too_many_end_ellipsis": sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines),
            "gopher_below_alpha_threshold": sum(any(c.isalpha() for c in w) for w in words) / n_words,
            "gopher_enough_stop_words": len(self.inner.stop_words.intersection(words)),
        }
