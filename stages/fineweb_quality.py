"""Stage `fineweb_quality`: FineWeb's own quality rules (datatrove FineWebQualityFilter, FineWeb defaults)."""

from dataclasses import dataclass

from datatrove.pipeline.filters.fineweb_quality_filter import FineWebQualityFilter
from datatrove.utils.text import split_into_words

from stages.compat import find_duplicates
from stages.quality import DatatroveFilterStage, profiles_key, ratio
from stages.registry import Threshold, key


@dataclass
class FineWebQualityParams:
    line_punct_thr: float = ratio(0.12, "drop when fewer lines than this end with terminal punctuation")
    line_punct_exclude_zero: bool = key(False, help="do not drop documents with no punctuated line at all")
    stop_chars: list[str] | None = key(None, help="null: datatrove's terminal punctuation set")
    short_line_thr: float = ratio(0.67, "drop when more lines than this are short")
    short_line_length: int = key(30, min=0, help="a line this long or shorter is short")
    char_duplicates_ratio: float = ratio(0.01, "drop when duplicated lines hold more characters than this")
    new_line_ratio: float = key(0.3, min=0, help="drop when newlines per word exceed this (a list, not prose)")
    profiles: bool = profiles_key()


class FineWebQualityStage(DatatroveFilterStage):
    name = "fineweb_quality"
    filter_class = FineWebQualityFilter
    order = 70
    summary = "datatrove FineWebQualityFilter"
    Params = FineWebQualityParams
    mirrors = FineWebQualityFilter
    reasons = ("empty", "line_punct_ratio", "short_line_ratio", "char_dup_ratio", "list_ratio")
    inspect_metrics = ("chars", *reasons)
    thresholds = (Threshold("line_punct_thr", "line_punct_ratio", ">=", "line_punct_ratio"),
                  Threshold("short_line_thr", "short_line_ratio", "<=", "short_line_ratio"),
                  Threshold("char_duplicates_ratio", "char_dup_ratio", "<=", "char_dup_ratio"),
                  Threshold("new_line_ratio", "list_ratio", "<=", "list_ratio"))

    def make_filter(self, params, profile):
        # a YAML list; datatrove hands it to str.endswith, which takes a tuple (its signature's type), not a list
        stop_chars = params.get("stop_chars")
        return super().make_filter({**params, "stop_chars": None if stop_chars is None else tuple(stop_chars)},
                                   profile)

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
