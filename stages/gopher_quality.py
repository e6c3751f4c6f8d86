"""Stage `gopher_quality`: Gopher's quality rules (datatrove GopherQualityFilter, FineWeb defaults)."""

from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
from datatrove.utils.text import PUNCTUATION_SET, split_into_words

from stages.quality import DatatroveFilterStage


class GopherQualityStage(DatatroveFilterStage):
    name = "gopher_quality"
    filter_class = GopherQualityFilter

    def measures(self, text):
        words = split_into_words(text, self.inner.language)
        n_words = max(len(words), 1)
        non_symbol = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
        lines = text.splitlines() or [""]
        mean_word = sum(map(len, non_symbol)) / max(len(non_symbol), 1)
        return {
            "gopher_short_doc": len(non_symbol),
            "gopher_long_doc": len(non_symbol),
            "gopher_below_avg_threshold": mean_word,
            "gopher_above_avg_threshold": mean_word,
            "gopher_too_many_hashes": text.count("#") / n_words,
            "gopher_too_many_ellipsis": (text.count("...") + text.count("…")) / n_words,
            "gopher_too_many_bullets": sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines),
            "gopher_too_many_end_ellipsis": sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines),
            "gopher_below_alpha_threshold": sum(any(c.isalpha() for c in w) for w in words) / n_words,
            "gopher_enough_stop_words": len(self.inner.stop_words.intersection(words)),
        }
