"""Stage `c4_quality`: C4's rules (datatrove C4QualityFilter; FineWeb turns off the terminal-punctuation rule).
Kept documents lose the lines C4 removes (javascript notices, cookie/policy lines, citations)."""

from datatrove.pipeline.filters.c4_filters import C4QualityFilter
from datatrove.utils.text import split_into_sentences

from stages.quality import DatatroveFilterStage


class C4QualityStage(DatatroveFilterStage):
    name = "c4_quality"
    filter_class = C4QualityFilter

    def measures(self, text):
        # lorem ipsum and curly brackets are yes/no rules: only the sentence count has a value
        f = self.inner
        count = 0
        for line in text.splitlines():
            line = line.strip()
            words = line.split()
            if f.max_word_length != -1 and any(len(w) > f.max_word_length for w in words):
                continue
            if f.filter_no_terminal_punct and not line.endswith((".", "?", "!", '"', "'")):
                continue
            if len(words) < f.min_words_per_line:
                continue
            low = line.lower()
            if (f.filter_javascript and "javascript" in low) or (
                f.filter_policy and any(p in low for p in ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"))
            ):
                continue
            count += len(split_into_sentences(line, f.language))
        return {"too_few_sentences": count}
