"""The values the quality stages write to removed/<stage>/value and inspect/ agree with datatrove's decisions.

Each stage decides with datatrove's filter and measures with its own `measures(text)`. For every document and
option set below, the rules of the filter are replayed in datatrove's order from the measured values: every rule
before the one that dropped the document must be on its keeping side, that rule on its dropping side. Then the
measured value is pinned: with that rule's threshold set to the measured value the rule no longer drops the
document, and for counts one more (or one fewer) drops it again, so a count is exact, not merely on the right side.
"""

import dataclasses
import json
import operator
import os
import random
from typing import Callable

import pytest
from datatrove.data import Document

from conftest import SHARED
from pipeline.sample_data import build_pages
from stages.c4_quality import C4QualityStage
from stages.fineweb_quality import FineWebQualityStage
from stages.gopher_quality import GopherQualityStage
from stages.gopher_repetition import GopherRepetitionStage


# -- documents -----------------------------------------------------------------------------------------------------
def sample_texts() -> list[str]:
    """The bundled sample's pages as the extract stage leaves them: articles, foreign pages, the low-quality ones."""
    from stages.extract import ExtractStage

    extract = ExtractStage(**dataclasses.asdict(ExtractStage.Params()))
    texts = []
    for i, page in enumerate(build_pages(0)):
        if page.get("status") or page.get("content_type") or page["kind"] in ("binary_as_html", "bad_content_encoding"):
            continue  # not an HTML page with text
        if page["kind"] in ("article", "near_dup", "exact_dup") and i % 5:
            continue  # a fifth of the articles and their copies: they are alike
        text = extract.extract(page["html"])
        if text and text not in texts:
            texts.append(text)
    return texts


PROSE = [
    "The council met on Tuesday to discuss the new library and the budget for the coming year.",
    "Volunteers repaired the old bridge over the river, and the work was finished before the floods came.",
    "It is a quiet town with a market, two schools and a station that has been closed since 1965.",
    "She said that the results were better than expected. Nobody had predicted such a good season!",
    "Why would anyone leave the harbour in winter? The fishermen have their reasons, and they are good ones.",
    'The sign read "Closed for repairs." He went home.',
    "Mr. Smith arrived at 10 a.m. and left at 4 p.m. with the documents.",
]
BLOCKS = {
    "prose": lambda r: r.choice(PROSE),
    "prose_para": lambda r: " ".join(r.sample(PROSE, r.randint(2, 5))),
    "bullet": lambda r: f"{r.choice(['-', '•', '  -'])} item number {r.randint(1, 99)} of the list",
    "ellipsis": lambda r: r.choice(["And then the story went on...", "To be continued…", "Read more ...",
                                    "more... and more..."]),
    "hashes": lambda r: " ".join(f"#{w}" for w in r.sample(["news", "town", "art", "sport", "food", "music"], 3)),
    "citation": lambda r: r.choice(["The bridge was built in 1901.[1]", "It was rebuilt twice [2] after the war.",
                                    "The river floods every spring [citation needed]", "History of the town [edit]",
                                    "Population grew quickly.[12][13]"]),
    "javascript": lambda r: "Please enable JavaScript in your browser to see the comments.",
    "policy": lambda r: r.choice(["By using this site you agree to our terms of use.", "This website uses cookies."]),
    "lorem": lambda r: "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
    "curly": lambda r: "function init() { return window.config; }",
    "long_word": lambda r: f"The code {'x' * r.randint(15, 40)} was printed on the ticket.",
    "short": lambda r: r.choice(["Home", "Menu", "Contact us", "Page 3", "Share", "Next"]),
    "numbers": lambda r: " ".join(str(r.randint(0, 999)) for _ in range(r.randint(4, 12))),
    "spam": lambda r: " ".join(["buy cheap watches now"] * r.randint(2, 6)) + ".",
    "jargon": lambda r: "Institutionalization notwithstanding, incomprehensibilities characterize "
                        "interdisciplinary methodologies.",
    "no_punct": lambda r: "a line of words that never ends with any punctuation mark at all",
    "quoted_end": lambda r: "He asked whether it was 'finished'",
    "multi_sentence": lambda r: "One. Two! Three? Four. Five and six.",
}


def generated_texts(n: int = 140, seed: int = 1) -> list[str]:
    """Documents built from blocks each rule reacts to, joined by single or double newlines, some blocks repeated."""
    rng = random.Random(seed)
    kinds = sorted(BLOCKS)
    texts = []
    for _ in range(n):
        weights = {k: rng.random() ** 3 for k in kinds}
        weights["prose"] += 1.5 * rng.random()
        weights["prose_para"] += 1.5 * rng.random()
        parts = [BLOCKS[k](rng) for k in rng.choices(kinds, weights=[weights[k] for k in kinds], k=rng.randint(1, 30))]
        if rng.random() < 0.3 and parts:  # repeated lines or paragraphs
            parts += [rng.choice(parts)] * rng.randint(1, 6)
            rng.shuffle(parts)
        texts.append(rng.choice(["\n", "\n\n", "\n \n"]).join(parts))
    return texts


def real_texts() -> list[str]:
    """Real articles: half the ground truth of the Scrapinghub article-extraction benchmark (the time of the other
    half buys little), when ../shared/data has it."""
    path = os.path.join(SHARED, "extraction", "scrapinghub-aeb", "ground-truth.json")
    if not os.path.exists(path):
        pytest.skip(f"real test data not present: {path}")
    with open(path, encoding="utf-8") as f:
        truth = json.load(f)
    return [entry["articleBody"] for entry in list(truth.values())[::2] if entry.get("articleBody", "").strip()]


# -- the rules, in datatrove's order --------------------------------------------------------------------------------
@dataclasses.dataclass
class Rule:
    reason: str
    drops: Callable | None  # (measured value, params) -> whether datatrove's rule drops the document
    at: Callable | None  # (params, value) -> params whose threshold for this rule is the measured value
    past: Callable | None = None  # for counts: (params, value) -> params one step past it (None: no such step)


def gated(key, op):
    # datatrove's `if self.<key> and value <op> self.<key>`: a threshold of 0 or None turns the rule off
    return lambda v, p: bool(p[key]) and op(v, p[key])


def always(key, op):
    return lambda v, p: op(v, p[key])


def set_key(key, step=0):
    return lambda p, v: {**p, key: v + step}


less, more = operator.lt, operator.gt


def gopher_quality_rules(params):
    return [
        Rule("gopher_short_doc", gated("min_doc_words", less), set_key("min_doc_words"), set_key("min_doc_words", 1)),
        Rule("gopher_long_doc", gated("max_doc_words", more), set_key("max_doc_words"),
             lambda p, v: {**p, "max_doc_words": v - 1} if v > 1 else None),  # 0 would turn the rule off
        Rule("gopher_below_avg_threshold", gated("min_avg_word_length", less), set_key("min_avg_word_length")),
        Rule("gopher_above_avg_threshold", gated("max_avg_word_length", more), set_key("max_avg_word_length")),
        Rule("gopher_too_many_hashes", gated("max_symbol_word_ratio", more), set_key("max_symbol_word_ratio")),
        Rule("gopher_too_many_ellipsis", gated("max_symbol_word_ratio", more), set_key("max_symbol_word_ratio")),
        Rule("gopher_too_many_bullets", gated("max_bullet_lines_ratio", more), set_key("max_bullet_lines_ratio")),
        Rule("gopher_too_many_end_ellipsis", gated("max_ellipsis_lines_ratio", more), set_key("max_ellipsis_lines_ratio")),
        Rule("gopher_below_alpha_threshold", gated("max_non_alpha_words_ratio", less), set_key("max_non_alpha_words_ratio")),
        Rule("gopher_enough_stop_words", gated("min_stop_words", less), set_key("min_stop_words"),
             set_key("min_stop_words", 1)),
    ]


def gopher_repetition_rules(params):
    rules = [Rule("empty", None, None)]
    for key in ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac"):
        rules.append(Rule(key, gated(key, more), set_key(key)))

    def pair_rule(reason, group, i):
        def at(p, v):
            pairs = [list(x) for x in p[group]]
            pairs[i][1] = v
            return {**p, group: pairs}

        return Rule(reason, lambda v, p: v > p[group][i][1], at)

    rules += [pair_rule(f"top_{n}_gram", "top_n_grams", i) for i, (n, _) in enumerate(params["top_n_grams"])]
    rules += [pair_rule(f"duplicated_{n}_n_grams", "dup_n_grams", i) for i, (n, _) in enumerate(params["dup_n_grams"])]
    return rules


def fineweb_rules(params):
    return [
        Rule("empty", None, None),
        Rule("line_punct_ratio", lambda v, p: v < p["line_punct_thr"] and not (v == 0 and p["line_punct_exclude_zero"]),
             set_key("line_punct_thr")),
        Rule("short_line_ratio", always("short_line_thr", more), set_key("short_line_thr")),
        Rule("char_dup_ratio", always("char_duplicates_ratio", more), set_key("char_duplicates_ratio")),
        Rule("list_ratio", always("new_line_ratio", more), set_key("new_line_ratio")),
    ]


def c4_rules(params):
    # lorem ipsum and curly brackets drop from inside the line loop, before the count is compared: yes/no rules
    # that are not replayed (a document they drop has no value to check)
    return [Rule("too_few_sentences", lambda v, p: p["min_num_sentences"] != -1 and v < p["min_num_sentences"],
                 set_key("min_num_sentences"), set_key("min_num_sentences", 1))]


STAGES = {
    GopherRepetitionStage: (gopher_repetition_rules, [
        {},
        {"dup_para_frac": None, "dup_para_char_frac": None, "dup_line_frac": 0.1, "dup_line_char_frac": 0.05},
        {"dup_para_frac": 0.05, "dup_para_char_frac": 0.02, "top_n_grams": [[4, 0.05], [2, 0.1]], "dup_n_grams": []},
        {"dup_para_frac": None, "dup_para_char_frac": None, "dup_line_frac": None, "dup_line_char_frac": None,
         "top_n_grams": [[3, 0.08], [2, 0.12]], "dup_n_grams": [[6, 0.05], [10, 0.02], [5, 0.03]]},
        {"dup_para_frac": None, "dup_para_char_frac": None, "dup_line_frac": None, "dup_line_char_frac": None,
         "top_n_grams": [], "dup_n_grams": [[10, 0.02], [7, 0.1], [9, 0.01]]},
    ]),
    GopherQualityStage: (gopher_quality_rules, [
        {},
        {"min_doc_words": 20, "max_doc_words": 150, "min_stop_words": 8,
         "stop_words": ["the", "a", "of", "and", "to", "in", "is", "was", "it", "for"]},
        {"min_doc_words": None, "max_doc_words": None, "min_avg_word_length": 4, "max_avg_word_length": 5,
         "max_symbol_word_ratio": 0.01},
        {"min_doc_words": 0, "min_avg_word_length": None, "max_avg_word_length": None, "max_symbol_word_ratio": 0.03,
         "max_bullet_lines_ratio": 0.2, "max_ellipsis_lines_ratio": 0.05, "max_non_alpha_words_ratio": 0.9},
    ]),
    C4QualityStage: (c4_rules, [
        {},
        {"split_paragraph": False},
        {"remove_citations": False, "filter_no_terminal_punct": True},
        {"filter_no_terminal_punct": True, "min_words_per_line": 6, "max_word_length": 12, "min_num_sentences": 8},
        {"split_paragraph": False, "filter_no_terminal_punct": True, "filter_javascript": False,
         "filter_policy": False, "min_num_sentences": 3, "min_words_per_line": -1, "max_word_length": -1},
        {"min_num_sentences": -1},
    ]),
    FineWebQualityStage: (fineweb_rules, [
        {},
        {"line_punct_thr": 0.7, "short_line_thr": 0.3, "short_line_length": 60, "char_duplicates_ratio": 0.001,
         "new_line_ratio": 0.05},
        {"line_punct_thr": 0.5, "line_punct_exclude_zero": True, "stop_chars": [".", "!"], "short_line_thr": 0.9,
         "char_duplicates_ratio": 0.2, "new_line_ratio": 0.08},
    ]),
}

# every thresholded reason the documents above must make some option set drop for: without these, the parity
# below would hold for want of drops
EXERCISED = {
    GopherRepetitionStage: {"dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac", "top_2_gram",
                            "top_3_gram", "top_4_gram", "duplicated_5_n_grams", "duplicated_6_n_grams",
                            "duplicated_7_n_grams", "duplicated_10_n_grams"},
    GopherQualityStage: {r.reason for r in gopher_quality_rules({})},
    C4QualityStage: {"too_few_sentences"},
    FineWebQualityStage: {"line_punct_ratio", "short_line_ratio", "char_dup_ratio", "list_ratio"},
}


def verdict(cls, params, text) -> tuple[str | None, float | None]:
    """(reason, value) the stage gives the document: (None, None) when kept. The reason is datatrove's."""
    drop = cls(**params).process(Document(text=text, id="parity"))  # a fresh document: C4 rewrites kept ones
    return (None, None) if drop is None else (drop.reason, drop.value)


def check(cls, overrides, text, seen):
    rules_for, _ = STAGES[cls]
    params = {**dataclasses.asdict(cls.Params()), **overrides}
    try:
        reason, value = verdict(cls, params, text)
    except ZeroDivisionError:
        return  # datatrove's filter fails on a text without words; the stage drops it as `error`
    measured = cls(**params).measures(text)
    rules = rules_for(params)
    names = [r.reason for r in rules]
    where = f"{cls.name} {overrides} on {text[:120]!r}"
    if reason is not None and reason not in names:
        return  # a yes/no rule (lorem ipsum, curly bracket) dropped it: no value to check
    seen.add(reason)
    upto = names.index(reason) if reason is not None else len(rules) - 1
    if reason is not None:
        assert value is not None and value == measured.get(reason), f"{where}: removed/ value {value} is not the measure"
    for rule in rules[: upto + 1]:
        if rule.drops is None:
            continue
        v = measured.get(rule.reason)
        if v is None:
            # a rule datatrove skipped (top n-gram with fewer than n words, averages without words) or turned off
            assert rule.reason != reason, f"{where}: dropped for {reason} with no measured value"
            continue
        dropping = rule.reason == reason
        assert rule.drops(v, params) == dropping, \
            f"{where}: {rule.reason} measured {v}, datatrove {'dropped' if dropping else 'passed'} it (verdict {reason})"
        if dropping or rule.past is not None:
            # with the threshold at the measured value the rule keeps the document (as a rule it passed already
            # does); exact for ratios too, as the measure divides the same numbers
            assert verdict(cls, rule.at(params, v), text)[0] != rule.reason, \
                f"{where}: with its threshold at the measured {v}, {rule.reason} still drops it"
        if rule.past is not None:
            # a count: one step past the measured value the rule drops it, whatever the verdict was
            past = rule.past(params, v)
            if past is not None:
                assert verdict(cls, past, text)[0] == rule.reason, \
                    f"{where}: {rule.reason} threshold one past the measured count {v} keeps it"


def run_parity(texts, seen_by_stage):
    for cls, (_, option_sets) in STAGES.items():
        seen = seen_by_stage.setdefault(cls, set())
        for overrides in option_sets:
            for text in texts:
                check(cls, overrides, text, seen)


@pytest.fixture(scope="module")
def texts():
    return sample_texts() + generated_texts()


def test_measures_agree_with_datatrove_on_generated_and_sample_documents(texts):
    seen = {}
    run_parity(texts, seen)
    for cls, reasons in EXERCISED.items():
        assert reasons <= seen[cls], f"{cls.name}: no document was dropped for {sorted(reasons - seen[cls])}"
        assert None in seen[cls], f"{cls.name}: no document was kept"


def test_measures_agree_with_datatrove_on_real_articles():
    seen = {}
    run_parity(real_texts(), seen)
    assert all(None in reasons and len(reasons) > 1 for reasons in seen.values()), \
        f"some stage kept every real article or dropped them all: {seen}"


def test_c4_measure_follows_datatrove_where_options_change_the_count():
    # (text, options, datatrove's count): the measure before this test counted lines, kept citations, knew no
    # ellipsis and ignored split_paragraph, and gave 0, 2, 3 and 0 for the first four
    cases = [
        # citations go before the terminal-punctuation check: "built in 1901.[1]" ends with "." once they are gone
        ("The bridge was built in 1901.[1]\nIt was rebuilt twice.[2]", {"filter_no_terminal_punct": True}, 2),
        # a line ending with an ellipsis has no terminal punctuation
        ("It went on and on...\nThen it stopped here.", {"filter_no_terminal_punct": True}, 1),
        # without split_paragraph each sentence is a line of its own: too short, or removed for javascript, alone
        ("Yes. No. This sentence has enough words.", {"split_paragraph": False}, 1),
        ("Please enable JavaScript to comment. The rest of the page is fine.", {"split_paragraph": False}, 1),
        # the same texts under the other setting
        ("The bridge was built in 1901.[1]\nIt was rebuilt twice.[2]",
         {"filter_no_terminal_punct": True, "remove_citations": False}, 0),
        ("Yes. No. This sentence has enough words.", {}, 3),
        ("Please enable JavaScript to comment. The rest of the page is fine.", {}, 0),
    ]
    for text, overrides, expected in cases:
        params = {**dataclasses.asdict(C4QualityStage.Params()), **overrides}
        assert C4QualityStage(**params).measures(text).get("too_few_sentences") == expected, (text, overrides)
    assert C4QualityStage(**{**dataclasses.asdict(C4QualityStage.Params()), "min_num_sentences": -1}).measures(
        "Any text at all.") == {}, "with the rule off there is no count to report"


def test_fineweb_stop_chars_from_a_config_list():
    # YAML gives stop_chars as a list; datatrove's str.endswith takes only a tuple
    stage = FineWebQualityStage(**{**dataclasses.asdict(FineWebQualityStage.Params()), "stop_chars": ["!"]})
    text = "\n".join([f"Line {i} ends with a full stop, not with the chosen mark." for i in range(9)] + ["Loud!"])
    drop = stage.process(Document(text=text, id="x"))
    assert drop is not None and drop.reason == "line_punct_ratio" and drop.value == 0.1
