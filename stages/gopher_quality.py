"""Stage `gopher_quality`: Gopher's quality rules (datatrove GopherQualityFilter, FineWeb defaults)."""

from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
from datatrove.utils.text import PUNCTUATION_SET, split_into_words

from stages.quality import DatatroveFilterStage


class GopherQualityStage(DatatroveFilterStage):
    name = "gopher_quality"
    filter_class = GopherQualityFilter

    def measure(self, reason, text):
        words = split_into_words(text, self.inner.language)
        n_words = max(len(words), 1)
        non_symbol = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
        lines = text.splitlines() or [""]
        if reason in ("gopher_short_doc", "gopher_long_doc"):
            return len(non_symbol)
        if reason in ("gopher_below_avg_threshold", "gopher_above_avg_threshold"):
            return sum(map(len, non_symbol)) / max(len(non_symbol), 1)
        if reason == "gopher_too_many_hashes":
            return text.count("#") / n_words
        if reason == "gopher_too_many_ellipsis":
            return (text.count("...") + text.count("…")) / n_words
        if reason == "gopher_too_many_bullets":
            return sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines)
        if reason == "gopher_too_many_end_ellipsis":
            return sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines)
        if reason == "gopher_below_alpha_threshold":
            return sum(any(c.isalpha() for c in w) for w in words) / n_words
        if reason == "gopher_enough_stop_words":
            return len(self.inner.stop_words.intersection(words))
        return None
