"""Each filter stage on crafted documents: keeps what it should, drops what it should, with the right reason
and the value that decided it; removed rows land in removed/<stage>/."""

import os

import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from conftest import ROOT, article_html
from dataclasses import asdict
from pipeline.config import load_config
from stages.base import StageOutput
from stages.c4_quality import C4QualityStage
from stages.extract import ExtractStage
from stages.fineweb_quality import FineWebQualityStage
from stages.gopher_quality import GopherQualityStage
from stages.gopher_repetition import GopherRepetitionStage
from stages.language import LanguageStage
from stages.url_filter import URLFilterStage

GOOD = (
    "The village library reopened last week after a long renovation that took most of the year. "
    "Volunteers spent their weekends painting the walls and repairing the old wooden shelves. "
    "The council paid for new lighting, and local businesses donated a collection of children's books. "
    "Many families came to the opening, and the librarian read stories to the youngest visitors. "
    "There is now a quiet room for students who need a place to work in the evenings. "
    "The library will be open every day except Sunday, and the staff hope to add a small cafe next year. "
    "Anyone who wants to help with the summer reading programme can leave their name at the front desk."
)


def doc(text, url="https://www.example-news.org/story/1", **meta):
    return Document(text=text, id=f"<id:{abs(hash(text)) % 10**8}>", metadata={"url": url, **meta})


def run_stage(stage, docs, tmp_path=None):
    kept = list(stage.run(iter(docs), rank=0, world_size=1))
    removed = []
    if tmp_path is not None:
        removed = pq.read_table(tmp_path / stage.name / "00000.parquet").to_pylist()
    return kept, removed


def make(cls, tmp_path, **overrides):
    params = {**asdict(cls.Params()), **overrides}
    return cls(output=StageOutput(removed_dir=str(tmp_path)), **params)


def test_url_filter(tmp_path):
    stage = make(URLFilterStage, tmp_path, extra_domains=["spam-site.com"])
    docs = [
        doc(GOOD, url="https://www.example-news.org/a"),
        doc(GOOD + " 1", url="http://22babes.blogspot.mk/post.html"),
        doc(GOOD + " 2", url="http://www.18abused-videos.example.com/x"),
        doc(GOOD + " 3", url="https://www.spam-site.com/page"),
    ]
    kept, removed = run_stage(stage, docs, tmp_path)
    assert [d.metadata["url"] for d in kept] == ["https://www.example-news.org/a"]
    assert sorted(r["reason"] for r in removed) == ["domain", "hard_blacklisted", "subdomain"]
    assert stage.stats["in"].total == 4 and stage.stats["kept"].total == 1


def test_hashed_list_answers_as_datatrove_list(tmp_path):
    from datatrove.pipeline.filters.url_filter import get_list

    from stages.url_filter import HashedList

    lines = ["# a comment", "spam.example", "  padded.example  ", "", "ünïcode.example", "#not.listed"]
    (tmp_path / "domains").write_text("\n".join(lines) + "\n")
    hashed, exact = HashedList(str(tmp_path / "domains"), {"extra.example"}), get_list(str(tmp_path), "domains", {"extra.example"}, False)
    for probe in ["spam.example", "padded.example", "", "ünïcode.example", "#not.listed", "a comment", "extra.example", "other.example", None]:
        assert (probe in hashed) == (probe in exact), probe


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # tldextract's, about datatrove's registered_domain
def test_url_filter_decides_as_datatrove_on_its_real_lists():
    import itertools
    import os

    from datatrove.pipeline.filters.url_filter import URLFilter
    from huggingface_hub import cached_assets_path
    from tldextract import TLDExtract

    from stages.url_filter import HashedListURLFilter

    ours, theirs = HashedListURLFilter(), URLFilter()
    for f in (ours, theirs):
        f.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)
        f.download_data()
    folder = cached_assets_path(library_name="datatrove", namespace="filters", subfolder="url_filter")
    with open(os.path.join(folder, "domains")) as f:
        domains = [line.strip() for line in itertools.islice(f, 0, 400000, 2000)]
    with open(os.path.join(folder, "urls")) as f:
        urls = [line.strip() for line in itertools.islice(f, 0, 20000, 200)]
    probes = [f"https://{d}/page" for d in domains] + [f"http://www.{d}/x" for d in domains] + urls
    probes += [f"https://news{i}.example-{i}.org/story/{i}" for i in range(200)] + ["https://www.example.com/porn-video"]
    decisions = [(ours.filter(doc(GOOD, url=u)), theirs.filter(doc(GOOD, url=u))) for u in probes]
    assert all(a == b for a, b in decisions)
    assert sum(a is not True for a, _ in decisions) > 300  # the listed ones were dropped, and for the same reason


ENGINES = {  # every engine and variant a config can choose, with the keys that choose it
    "trafilatura": {},
    "resiliparse": {"engine": "resiliparse"},
    "fast": load_config(os.path.join(ROOT, "configs", "fast.yaml")).stages["extract"],
}
ENGINES["fast+trafilatura"] = {**ENGINES["fast"], "fallback_engine": "trafilatura"}  # fast.yaml's fallback: baseline


@pytest.mark.parametrize("settings", ENGINES.values(), ids=ENGINES.keys())
def test_extract_keeps_main_text_and_drops_empty(tmp_path, settings):
    stage = make(ExtractStage, tmp_path, **settings)
    docs = [doc(article_html([GOOD])), doc("<html><head><script>var a = 1;</script></head><body><img src='x.png'></body></html>")]
    kept, removed = run_stage(stage, docs, tmp_path)
    assert len(kept) == 1 and "village library" in kept[0].text and "Home" not in kept[0].text
    assert "var a" not in kept[0].text
    assert [r["reason"] for r in removed] == ["empty"]


def test_line_filter_drops_navigation_and_boilerplate_keeps_prose():
    from stages.extract import filter_lines

    links = " ".join(f"<a href='/s/{i}'>Story number {i}</a>" for i in range(5))
    minimal_html = "\n".join([
        "<h2>Budget</h2>",
        f"<p>{GOOD}</p>",
        "<p>A sentence with <a href='/x'>one link</a> in it &amp; an ampersand.</p>",
        "<p>Advertisement</p>",
        "<p>Mateusz Seroka</p>",
        "<p>More from Relationships</p>",
        "<h3>Read these stories next time</h3>",
        f"<p>{links}</p>",
        "<pre>x = 1 &lt; 2</pre>",
    ])
    assert filter_lines(minimal_html).split("\n") == [
        "Budget",  # a heading stays though short; the title of a dropped link list does not
        GOOD,
        "A sentence with one link in it & an ampersand.",
        "x = 1 < 2",
    ]


def test_extract_engines_on_real_pages(tmp_path):
    """Each engine through the sandbox on real news pages: most of each article found, little else; and the
    fast variant's trafilatura fallback recovers pages resiliparse's main-content pass finds nothing on."""
    import gzip
    import json
    import sys

    from conftest import shared_path

    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from extraction_quality import prf, token_counts

    aeb = shared_path("extraction", "scrapinghub-aeb")
    with open(os.path.join(aeb, "ground-truth.json"), encoding="utf-8") as f:
        truth = json.load(f)
    pages = list(truth.items())[:12]
    docs = []
    for page_id, _ in pages:
        with gzip.open(os.path.join(aeb, "html", f"{page_id}.html.gz"), "rt", encoding="utf-8", errors="replace") as f:
            docs.append(Document(text=f.read(), id=page_id, metadata={"url": page_id}))
    for name, settings in ENGINES.items():
        stage = make(ExtractStage, tmp_path / name, **settings)
        kept = list(stage.run(iter([Document(text=d.text, id=d.id, metadata=dict(d.metadata)) for d in docs])))
        assert len(kept) == len(docs), name
        counts = [token_counts(d.text, truth[d.id]["articleBody"]) for d in kept]
        precision, recall, f1 = prf(*map(sum, zip(*counts)))
        assert f1 > 0.85 and recall > 0.85, (name, precision, recall)

    clarin = os.path.join(shared_path("extraction", "trafilatura-evaldata"), "html", "clarin.com-albertofernandez.html")
    with open(clarin, encoding="utf-8", errors="replace") as f:
        html = f.read()
    got = {}
    for name in ("resiliparse", "fast", "fast+trafilatura"):
        stage = make(ExtractStage, tmp_path / f"clarin-{name}", **ENGINES[name])
        got[name] = [d.text for d in stage.run(iter([doc(html)]))]
    assert got["resiliparse"] == []  # dropped as empty
    assert "La Cámpora en declaraciones radiales" in got["fast+trafilatura"][0]
    assert got["fast"][0].strip()  # trafilatura's baseline finds less here (its lead), but not nothing


def test_fallback_engines_and_trafilatura_fast_run_what_they_name(tmp_path):
    """fallback_engine baseline gives a page resiliparse misses trafilatura's baseline() text; trafilatura_fast
    hands trafilatura fast=True (on this page its text differs from a full extract's), with either engine."""
    import trafilatura

    from conftest import shared_path

    evaldata = os.path.join(shared_path("extraction", "trafilatura-evaldata"), "html")

    def page(name):
        with open(os.path.join(evaldata, name), encoding="utf-8", errors="replace") as f:
            return f.read()

    clarin = page("clarin.com-albertofernandez.html")
    stage = make(ExtractStage, tmp_path / "baseline", **{**ENGINES["fast"], "fallback_min_language_score": 0.0})
    assert stage.extract.route(clarin) == "fallback"
    assert [d.text for d in stage.run(iter([doc(clarin)]))] == [trafilatura.baseline(clarin)[1]]

    arte = page("arteradio.com-nuls.html")
    settings = dict(favor_precision=False, include_comments=False, deduplicate=False)
    full, fast = trafilatura.extract(arte, **settings), trafilatura.extract(arte, **settings, fast=True)
    assert full != fast
    for name, value in (("full", False), ("fast", True)):
        stage = make(ExtractStage, tmp_path / name, favour_precision=False, deduplicate=False, trafilatura_fast=value)
        assert [d.text for d in stage.run(iter([doc(arte)]))] == [full if not value else fast], name


def test_fallback_is_skipped_for_a_page_in_no_language_kept(tmp_path):
    """fast.yaml's check before the fallback: a Spanish page resiliparse finds nothing on goes to the fallback
    (trafilatura here) when the run keeps Spanish, and skips it when the run keeps English only, going on with its
    visible text, which the language stage then drops as wrong_language; each page's route is counted."""
    from conftest import shared_path

    clarin = os.path.join(shared_path("extraction", "trafilatura-evaldata"), "html", "clarin.com-albertofernandez.html")
    with open(clarin, encoding="utf-8", errors="replace") as f:
        html = f.read()
    english = article_html([GOOD] * 12)
    for kept_languages, route in ((["es"], "fallback"), (["en"], "fallback_skipped")):
        stage = make(ExtractStage, tmp_path / route, **{**ENGINES["fast+trafilatura"],
                                                         "fallback_languages": kept_languages})
        kept, _ = run_stage(stage, [doc(html), doc(english)], tmp_path / route)
        assert len(kept) == 2
        assert stage.stats[f"route/{route}"].total == 1 and stage.stats["route/resiliparse"].total == 1
        if route == "fallback":
            assert "La Cámpora en declaraciones radiales" in kept[0].text
        else:
            language = make(LanguageStage, tmp_path / "language", languages=kept_languages)
            _, removed = run_stage(language, kept[:1], tmp_path / "language")
            assert [(r["reason"], r["detail"]) for r in removed] == [("wrong_language", "es")]


def test_language(tmp_path):
    stage = make(LanguageStage, tmp_path)
    french = "Le marché du samedi attire chaque semaine des familles venues de toute la région pour acheter des légumes."
    kept, removed = run_stage(stage, [doc(GOOD), doc(french), doc("xyz qwv 123")], tmp_path)
    assert len(kept) == 1 and kept[0].metadata["language"] == "en" and kept[0].metadata["language_score"] > 0.9
    by_reason = {r["reason"]: r for r in removed}
    assert by_reason["wrong_language"]["detail"] == "fr" and by_reason["wrong_language"]["value"] > 0.65
    assert len(removed) == 2


def test_language_list_and_threshold_are_configurable(tmp_path):
    french = "Le marché du samedi attire chaque semaine des familles venues de toute la région pour acheter des légumes."
    stage = make(LanguageStage, tmp_path, languages=["fr", "de"], threshold=0.5)
    kept, _ = run_stage(stage, [doc(GOOD), doc(french)], tmp_path)
    assert [d.metadata["language"] for d in kept] == ["fr"]


def test_gopher_repetition(tmp_path):
    stage = make(GopherRepetitionStage, tmp_path)
    spam = "\n".join(["Buy cheap watches online now at the best price."] * 10)
    kept, removed = run_stage(stage, [doc(GOOD), doc(spam)], tmp_path)
    assert len(kept) == 1
    assert removed[0]["reason"] == "dup_para_frac" or removed[0]["reason"].startswith("dup_line")
    assert removed[0]["value"] > 0.3


def test_gopher_quality(tmp_path):
    stage = make(GopherQualityStage, tmp_path)
    kept, removed = run_stage(stage, [doc(GOOD), doc("Too short to be a real page.")], tmp_path)
    assert len(kept) == 1
    assert removed[0]["reason"] == "gopher_short_doc" and removed[0]["value"] == 7


def test_c4_quality(tmp_path):
    stage = make(C4QualityStage, tmp_path)
    code = GOOD + "\nfunction init() { return 1; }"
    lorem = GOOD + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit."
    few = "One sentence here. Another one there."
    kept, removed = run_stage(stage, [doc(GOOD), doc(code), doc(lorem), doc(few)], tmp_path)
    assert len(kept) == 1
    reasons = {r["reason"]: r for r in removed}
    assert set(reasons) == {"curly_bracket", "lorem_ipsum", "too_few_sentences"}
    assert reasons["too_few_sentences"]["value"] == 2


def test_fineweb_quality(tmp_path):
    stage = make(FineWebQualityStage, tmp_path)
    no_punct = "\n".join(f"menu entry number {i} with some words but no full stop at the end" for i in range(20))
    kept, removed = run_stage(stage, [doc(GOOD), doc(no_punct)], tmp_path)
    assert len(kept) == 1
    assert removed[0]["reason"] == "line_punct_ratio" and removed[0]["value"] == 0.0


def test_a_stage_error_drops_one_document_and_the_run_goes_on(tmp_path):
    stage = make(GopherQualityStage, tmp_path)
    broken = Document(text=None, id="<broken>", metadata={"url": "https://x.org/"})  # text None makes the filter raise
    kept, removed = run_stage(stage, [broken, doc(GOOD)], tmp_path)
    assert len(kept) == 1
    assert removed[0]["reason"] == "error" and removed[0]["id"] == "<broken>"
    assert stage.stats["dropped/error"].total == 1


def test_gopher_repetition_short_document_dropped_for_its_reason(tmp_path):
    # fewer words than the longest n-gram: the value of the rule that dropped it, not an `error` drop
    stage = make(GopherRepetitionStage, tmp_path)
    kept, removed = run_stage(stage, [doc("Hello world")], tmp_path)
    assert kept == [] and [(r["reason"], r["value"]) for r in removed] == [("top_2_gram", 1.0)]
