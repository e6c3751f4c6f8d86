"""Stage `gopher_repetition`: Gopher's repetition rules (datatrove GopherRepetitionFilter, FineWeb defaults)."""

from dataclasses import dataclass

from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter
from datatrove.utils.text import split_into_words

from stages.compat import find_all_duplicate, find_duplicates, find_top_duplicate, get_n_grams, repetition_parts
from stages.quality import DatatroveFilterStage, ratio, ngram_problems
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

    def measures(self, text):
        f = self.inner
        if not text:
            return {"empty": 0.0}
        out = {}
        for kind, parts in zip(("para", "line"), repetition_parts(f, text)):
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
