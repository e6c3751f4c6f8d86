"""Stage `fineweb_quality`: FineWeb's own quality rules (datatrove FineWebQualityFilter, FineWeb defaults)."""

from datatrove.pipeline.filters.fineweb_quality_filter import FineWebQualityFilter
from datatrove.pipeline.filters.gopher_repetition_filter import find_duplicates
from datatrove.utils.text import split_into_words

from stages.quality import DatatroveFilterStage


class FineWebQualityStage(DatatroveFilterStage):
    name = "fineweb_quality"
    filter_class = FineWebQualityFilter

    def measures(self, text):
        f = self.inner
        lines = [line for line in text.split("\n") if line.strip() != ""]
        if not lines:
            return {"empty": 0.0}
        return {
            "line_punct_ratio": sum(line.endswith(f.stop_chars) for line in lines) / len(lines),
            "short_line_ratio": sum(len(line) <= f.short_line_length for line in lines) / len(lines),
            "char_dup_ratio": find_duplicates(lines)[1] / max(len(text.replace("\n", "")), 1),
            "list_ratio": text.count("\n") / max(len(split_into_words(text, f.language)), 1),
        }
