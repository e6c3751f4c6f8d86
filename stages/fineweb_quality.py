"""Stage `fineweb_quality`: FineWeb's own quality rules (datatrove FineWebQualityFilter, FineWeb defaults)."""

from datatrove.pipeline.filters.fineweb_quality_filter import FineWebQualityFilter
from datatrove.pipeline.filters.gopher_repetition_filter import find_duplicates
from datatrove.utils.text import split_into_words

from stages.quality import DatatroveFilterStage


class FineWebQualityStage(DatatroveFilterStage):
    name = "fineweb_quality"
    filter_class = FineWebQualityFilter

    def measure(self, reason, text):
        f = self.inner
        lines = [line for line in text.split("\n") if line.strip() != ""]
        if not lines:
            return 0.0
        if reason == "line_punct_ratio":
            return sum(line.endswith(f.stop_chars) for line in lines) / len(lines)
        if reason == "short_line_ratio":
            return sum(len(line) <= f.short_line_length for line in lines) / len(lines)
        if reason == "char_dup_ratio":
            return find_duplicates(lines)[1] / max(len(text.replace("\n", "")), 1)
        if reason == "list_ratio":
            return text.count("\n") / max(len(split_into_words(text, f.language)), 1)
        return None
