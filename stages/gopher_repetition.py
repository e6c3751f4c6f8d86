"""Stage `gopher_repetition`: Gopher's repetition rules (datatrove GopherRepetitionFilter, FineWeb defaults)."""

import re

from datatrove.pipeline.filters.gopher_repetition_filter import (
    GopherRepetitionFilter,
    find_all_duplicate,
    find_duplicates,
    find_top_duplicate,
    get_n_grams,
)
from datatrove.utils.text import split_into_words

from stages.quality import DatatroveFilterStage

_N_GRAM_REASON = re.compile(r"(top|duplicated)_(\d+)_")


class GopherRepetitionStage(DatatroveFilterStage):
    name = "gopher_repetition"
    filter_class = GopherRepetitionFilter

    def measure(self, reason, text):
        if not text:
            return 0.0
        if reason.startswith("dup_para"):
            parts = self.inner.paragraph_exp.split(text.strip())
        elif reason.startswith("dup_line"):
            parts = self.inner._line_splitter.split(text)
        else:
            m = _N_GRAM_REASON.match(reason)
            if not m:
                return None
            words = split_into_words(text, self.inner.language)
            n = int(m.group(2))
            chars = find_top_duplicate(get_n_grams(words, n)) if m.group(1) == "top" else find_all_duplicate(words, n)
            return chars / len(text)
        dup_items, dup_chars = find_duplicates(parts)
        return dup_items / len(parts) if reason.endswith("_frac") and "char" not in reason else dup_chars / len(text)
