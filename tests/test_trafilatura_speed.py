"""stages/trafilatura_speed.py makes trafilatura faster without changing what it extracts: checked here on every real
HTML page in ../shared/data (the WARC pages bench/scaled_warcs.py draws from and both extraction benchmarks), for
each expression it replaces, for the classes lxml gives the elements, and for the text of extract() as
configs/fineweb.yaml and configs/fast.yaml call it."""

import copy
import dataclasses
import functools
import os
import sys

import pytest

from conftest import ROOT, SHARED, extraction_html_pages
from stages import trafilatura_speed
from stages.trafilatura_speed import (guard_regex_tests, prefilter_attributeless, selects_only_elements,
                                      speed_up_trafilatura, trafilatura_as_installed)


@functools.cache
def real_html_pages() -> tuple[str, ...]:
    """Every real HTML page of ../shared/data's WARCs and extraction benchmarks; () without the data."""
    pages = []
    if all(os.path.isdir(os.path.join(SHARED, "warc", d)) for d in ("assembled", "cc", "other-real")):
        sys.path.insert(0, os.path.join(ROOT, "bench"))
        try:
            from scaled_warcs import distinct_pages
        finally:
            sys.path.remove(os.path.join(ROOT, "bench"))
        pages += [p["html"] for p in distinct_pages(os.path.join(SHARED, "warc"))]
    return tuple(pages + extraction_html_pages())


def pages_or_skip() -> tuple[str, ...]:
    pages = real_html_pages()
    if len(pages) < 100:
        pytest.skip(f"real HTML pages not present under {SHARED}")
    return pages


@pytest.fixture
def as_found():
    """Leaves trafilatura as the test found it (sped up or not): other tests in this process extract too."""
    with trafilatura_as_installed():
        yield


def test_guard_only_where_the_pattern_cannot_match_empty():
    assert guard_regex_tests("//*[re:test(@class, 'foo|bar')]") == "//*[((@class) and re:test(@class, 'foo|bar'))]"
    assert (guard_regex_tests("//*[re:test(@id|@class, '^x', 'i')]")
            == "//*[((@id|@class) and re:test(@id|@class, '^x', 'i'))]")
    # these match "", so an element without the attribute matches them: left alone
    for expr in ("//*[re:test(@class, 'a|')]", "//*[re:test(@class, '^')]", "//*[re:test(@id, 'x*')]"):
        assert guard_regex_tests(expr) == expr
    # not an attribute (a string argument, a function), another prefix's function, a literal's text: left alone
    for expr in ("//*[re:test(string(.), 'x')]", "//*[xre:test(@class, 'x')]", "//*[@title=\"re:test(@class, 'x')\"]",
                 "//*[@title='re:test(@class, \"x\")']"):
        assert guard_regex_tests(expr) == expr


def test_attributeless_prefilter_only_where_no_element_without_attributes_matches():
    assert (prefilter_attributeless(".//*[@class='x' or contains(translate(@id, 'T', 't'), 'y') or @role]")
            == ".//*[@*][@class='x' or contains(translate(@id, 'T', 't'), 'y') or @role]")
    # positions after it are counted among the same elements
    assert (prefilter_attributeless(".//*[self::div][((@class) and re:test(@class, 'x'))][1]")
            == ".//*[self::div][@*][((@class) and re:test(@class, 'x'))][1]")
    assert prefilter_attributeless(".//*[@title='a]b' or @id]") == ".//*[@*][@title='a]b' or @id]"
    # true for an element without attributes, or not read from attributes alone, or a bare attribute test: as it is
    for expr in (".//*[not(@class)]", ".//*[@class!='x']", ".//*[@a or text()]", ".//*[contains(@class, '')]",
                 ".//*[@a and @b]", "//a[@href]", ".//*[re:test(@class, 'x')]", ".//*[@a or .//p]"):
        assert prefilter_attributeless(expr) == expr, expr


def test_only_expressions_selecting_elements_lose_smart_strings():
    assert selects_only_elements(".//*[self::div][re:test(@class, 'x')]")
    assert selects_only_elements(".//div[p[@id='x']]//span")
    assert selects_only_elements(".//head | .//code | descendant::p")
    for expr in (".//div[re:test(@class, 'x')]/text()", ".//a[re:test(@class, 'x')]/@href", "//p[@id]/node()",
                 "//p/attribute::class", "//p/namespace::*", "name(//p[@id])", "normalize-space(//p)"):
        assert not selects_only_elements(expr), expr


def test_each_replaced_expression_selects_the_same_elements_and_lxml_the_same_classes(as_found):
    """The same class for every element of every real page; and on every fourth page's tree, as parsed and after
    trafilatura's own cleaning (the trees most expressions run on), the same elements in the same order from each
    expression (the end-to-end tests below compare every page's text)."""
    from lxml import etree
    from lxml.html import HtmlElementClassLookup
    from trafilatura.htmlprocessing import convert_tags, tree_cleaning
    from trafilatura.settings import Extractor
    from trafilatura.utils import HTML_PARSER, load_html

    pages = pages_or_skip()
    speed_up_trafilatura()
    pairs = [(original, new) for owner, key, original, new in trafilatura_speed._patches if key != "lookup"]
    assert len(pairs) >= 10  # trafilatura's expressions with re:test were found
    fast_lookup = next(new for owner, key, _, new in trafilatura_speed._patches if key == "lookup")
    options = Extractor(output_format="txt", precision=True, comments=False)
    compared = 0
    for html in pages:
        HTML_PARSER.set_element_class_lookup(HtmlElementClassLookup())
        tree = load_html(html)
        if tree is None:
            continue
        HTML_PARSER.set_element_class_lookup(fast_lookup)
        assert [type(e) for e in load_html(html).iter()] == [type(e) for e in tree.iter()]
        compared += 1
        if compared % 4:
            continue
        cleaned = convert_tags(tree_cleaning(copy.deepcopy(tree), options), options)
        for original, new in pairs:
            for t in (tree, cleaned):
                selected = new(t)
                assert selected == original(t), original.path
                assert all(isinstance(e, etree._Element) for e in selected), original.path  # so no smart string lost
    assert compared >= 100


CALLS = {
    # configs/fineweb.yaml (datatrove's Trafilatura step with FineWeb's settings)
    "fineweb": dict(favor_precision=True, include_comments=False, deduplicate=True),
    # configs/fast.yaml's fallback with fallback_engine: trafilatura
    "fast-fallback": dict(favor_precision=False, include_comments=False, deduplicate=True, fast=True),
}


@pytest.mark.slow
@pytest.mark.parametrize("call", sorted(CALLS))
def test_extract_gives_the_same_text_on_every_real_page(as_found, call):
    import trafilatura
    from trafilatura.deduplication import LRU_TEST

    pages = pages_or_skip()
    differing = []
    for i, html in enumerate(pages):
        texts = []
        for sped_up in (False, True):
            (speed_up_trafilatura if sped_up else trafilatura_speed.restore_trafilatura)()
            LRU_TEST.clear()  # deduplicate: each extraction starts from the same segment cache
            texts.append(trafilatura.extract(html, **CALLS[call]))
        if texts[0] != texts[1]:
            differing.append(i)
    assert not differing, f"{len(differing)} of {len(pages)} pages extract differently, e.g. page {differing[:5]}"


def test_elements_code_creates_get_lxml_html_s_classes(as_found):
    """Elements created after parsing, any spelling of a name lxml.html gives a class of its own included."""
    from lxml import etree
    from lxml.html import HtmlElementClassLookup
    from trafilatura.utils import HTML_PARSER, load_html

    names = ["form", "FORM", "Input", "tExTaReA", "label", "select", "p", "DIV", "list", "fb:like"]
    classes = {}
    for lookup in (HtmlElementClassLookup(), trafilatura_speed.html_class_lookup()):
        HTML_PARSER.set_element_class_lookup(lookup)
        body = load_html("<html><body><p>x</p><!-- c --></body></html>").find(".//body")
        classes[type(lookup)] = [type(etree.SubElement(body, name)) for name in names] + [type(c) for c in body]
    HTML_PARSER.set_element_class_lookup(HtmlElementClassLookup())
    stock, fast = classes.values()
    assert fast == stock
    assert stock[0].__name__ == "FormElement" and stock[1].__name__ == "FormElement"


def test_trafilatura_as_installed_when_its_internals_moved(as_found, monkeypatch):
    """A trafilatura without the parser this module looks for: nothing is changed, and the caller is told."""
    import trafilatura.utils
    import trafilatura.xpaths

    monkeypatch.setattr(trafilatura_speed, "_patches", [])
    monkeypatch.setattr(trafilatura_speed, "_applied", False)
    expressions = list(trafilatura.xpaths.OVERALL_DISCARD_XPATH)
    monkeypatch.delattr(trafilatura.utils, "HTML_PARSER")
    assert speed_up_trafilatura() is False
    assert trafilatura.xpaths.OVERALL_DISCARD_XPATH == expressions
    assert trafilatura_speed._patches == []


def test_baseline_gives_the_same_text_on_every_real_page(as_found):
    from trafilatura import baseline

    pages = pages_or_skip()
    for html in pages:
        trafilatura_speed.restore_trafilatura()
        stock = baseline(html)[1]
        speed_up_trafilatura()
        assert baseline(html)[1] == stock


def test_the_extract_stage_runs_trafilatura_sped_up(as_found):
    """A task's extract stage applies it before it forks its sandbox (whose extractions then use it)."""
    import trafilatura.xpaths
    from stages.extract import ExtractStage

    trafilatura_speed.restore_trafilatura()
    stage = ExtractStage(**dataclasses.asdict(ExtractStage.Params()))
    assert "and re:test" not in trafilatura.xpaths.OVERALL_DISCARD_XPATH[0].path
    sandbox = stage.session()
    with sandbox:
        assert "and re:test" in trafilatura.xpaths.OVERALL_DISCARD_XPATH[0].path
        html = "<html><body><article><p>" + "A sentence of the article body. " * 30 + "</p></article></body></html>"
        assert "article body" in sandbox.process_document(html, stage.extract)
