"""Stage `gopher_repetition`: Gopher's repetition rules (datatrove GopherRepetitionFilter, FineWeb defaults)."""

from datatrove.pipeline.filters.gopher_repetition_filter import (
    GopherRepetitionFilter,
    find_all_duplicate,
    find_duplicates,
    find_top_duplicate,
    get_n_grams,
)
from datatrove.utils.text import split_into_words

from stages.quality import DatatroveFilterStage


class GopherRepetitionStage(DatatroveFilterStage):
    name = "gopher_repetition"
    filter_class = GopherRepetitionFilter

    def measures(self, text):
        f = self.inner
        if not text:
            return {"empty": 0.0}
        out = {}
        for kind, parts in (("para", f.paragraph_exp.split(text.strip())), ("line", f._line_splitter.split(text))):
            dup_items, dup_chars = find_duplicates(parts)
            out[f"dup_{kind}_frac"] = dup_items / len(parts)
            out[f"dup_{kind}_char_frac"] = dup_chars / len(text)
        words = split_into_words(text, f.language)
        for n, _ in f.top_n_grams:
            grams = get_n_grams(words, n)
            # fewer than n words: no n-gram repeats (datatrove skips the rule; its counter would fail on none)
            out[f"top_{n}_gram"] = find_top_duplicate(grams) / len(text) if grams else 0.0
        for n, _ in f.dup_n_grams:
            out[f"duplicated_{n}_n_grams"] = find_all_duplicate(words, n) / len(text)
        return out
