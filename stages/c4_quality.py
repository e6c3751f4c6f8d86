"""Stage `c4_quality`: C4's rules (datatrove C4QualityFilter; FineWeb turns off the terminal-punctuation rule).
Kept documents lose the lines C4 removes (javascript notices, cookie/policy lines, citations)."""

from dataclasses import dataclass

from datatrove.pipeline.filters.c4_filters import C4QualityFilter

from stages.compat import SpacyTokenizerBase, c4_sentence_count, use_word_tokenizer
from stages.fast_filters import OneSentenceShortcut
from stages.quality import DatatroveFilterStage, profiles_key
from stages.registry import Threshold, key


@dataclass
class C4QualityParams:
    split_paragraph: bool = key(True, help="split the text into lines at newlines (false: into sentences)")
    remove_citations: bool = key(True, help="remove wikipedia-style citations like [1] from kept documents")
    filter_no_terminal_punct: bool = key(False, help="drop lines without terminal punctuation (FineWeb: off)")
    min_num_sentences: int = key(5, min=-1, help="fewest sentences in the kept lines (-1: no minimum)")
    min_words_per_line: int = key(3, min=-1, help="lines with fewer words are removed (-1: none)")
    max_word_length: int = key(1000, min=-1, help="lines with a longer word are removed (-1: none)")
    filter_lorem_ipsum: bool = key(True, help="drop documents containing lorem ipsum")
    filter_javascript: bool = key(True, help="remove lines mentioning javascript")
    filter_curly_bracket: bool = key(True, help="drop documents with a curly bracket")
    filter_policy: bool = key(True, help="remove lines about terms of use, privacy and cookie policies")
    profiles: bool = profiles_key()


class C4QualityStage(DatatroveFilterStage):
    name = "c4_quality"
    filter_class = C4QualityFilter
    order = 60
    summary = "datatrove C4QualityFilter, terminal-punctuation rule off (FineWeb); kept documents lose the lines C4 removes"
    Params = C4QualityParams
    mirrors = C4QualityFilter
    reasons = ("lorem_ipsum", "curly_bracket", "too_few_sentences")
    inspect_metrics = ("chars", "too_few_sentences")
    thresholds = (Threshold("min_num_sentences", "too_few_sentences", ">=", "too_few_sentences"),)
    departures = {"filter_no_terminal_punct": "FineWeb turns it off: FineWebQualityFilter has its own punctuation rule"}

    def make_filter(self, params, profile):
        inner = super().make_filter(params, profile)
        if isinstance(inner.language, SpacyTokenizerBase):
            # a line spaCy's sentencizer cannot split is one sentence without running spaCy (tests/test_fast_filters.py)
            use_word_tokenizer(inner, OneSentenceShortcut(inner.language))
        return inner

    def measures(self, text):
        # lorem ipsum and curly brackets are yes/no rules: only the sentence count has a value
        count = c4_sentence_count(self.inner, text)
        return {} if count is None else {"too_few_sentences": count}
