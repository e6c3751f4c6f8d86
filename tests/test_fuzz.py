"""Property-based: random bytes and random HTML through reading and extraction never raise out of a stage,
and every record or document that enters is accounted for (kept or dropped with a known reason)."""

import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import article_html, write_warc
from datatrove.data import Document
from dataclasses import asdict
from stages.extract import ExtractStage
from stages.read import WarcReadStage
from stages.registry import ERROR, allowed_reasons

READ_REASONS = set(allowed_reasons(WarcReadStage)) | {ERROR}


def read_everything(path):
    stage = WarcReadStage([path])
    kept = list(stage.run(None, rank=0, world_size=1))
    s = stage.stats.stats  # datatrove's MetricStatsDict
    dropped = {k: v.total for k, v in s.items() if k.startswith("dropped/")}
    n_in = s["in"].total if "in" in s else 0
    assert n_in == len(kept) + sum(dropped.values())
    assert {k[len("dropped/"):] for k in dropped} <= READ_REASONS
    return kept, n_in


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000), st.sampled_from(["warc.gz", "warc", "arc", "arc.gz"]))
def test_random_bytes_as_an_archive(data, suffix):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "x." + suffix)
        with open(path, "wb") as f:
            f.write(data)
        read_everything(path)  # no exception escapes; whatever was read is accounted for


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000), st.sampled_from(["text/html", "text/html; charset=utf-8", "application/xhtml+xml",
                                                 "text/html; charset=klingon"]))
def test_random_payloads_in_well_formed_records(payload, content_type):
    with tempfile.TemporaryDirectory() as d:
        path = write_warc(os.path.join(d, "x.warc.gz"), [
            {"url": "http://x.org/fuzz", "body": payload, "content_type": content_type},
            {"url": "http://x.org/ok", "body": article_html(["A perfectly ordinary paragraph of prose."])},
        ])
        kept, n_in = read_everything(path)
        assert n_in == 2
        assert "http://x.org/ok" in [doc.metadata["url"] for doc in kept]  # one bad record never costs the next


HTML_PIECES = st.sampled_from(["<div>", "</div>", "<p>", "</p>", "<table><tr><td>", "<script>var a='</p>';",
                               "</script>", "<!--", "-->", "<![CDATA[", "]]>", "<a href='javascript:x'>", "&amp;",
                               "&#xD800;", "\x00", "<svg><foreignObject>", "<html>", "<body>", "<?xml?>", "é漢🙂"])
RANDOM_HTML = st.lists(st.one_of(HTML_PIECES, st.text(max_size=40)), max_size=80).map("".join)


@pytest.mark.parametrize("engine", [{}, {"engine": "resiliparse"},
                                    {"engine": "resiliparse", "line_filter": True, "fallback_chars": 500},
                                    {"engine": "resiliparse", "line_filter": True, "fallback_chars": 500,
                                     "fallback_engine": "baseline"}],
                         ids=["trafilatura", "resiliparse", "resiliparse-filter-fallback", "resiliparse-filter-baseline"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RANDOM_HTML, min_size=1, max_size=4))
def test_random_html_through_extraction(engine, pages):
    stage = ExtractStage(**{**asdict(ExtractStage.Params()), **engine})
    docs = [Document(text=html, id=f"d{i}", metadata={"url": f"http://x.org/{i}"}) for i, html in enumerate(pages)]
    kept = list(stage.run(iter(docs), rank=0, world_size=1))
    s = stage.stats.stats
    dropped = {k[len("dropped/"):]: v.total for k, v in s.items() if k.startswith("dropped/")}
    assert s["in"].total == len(pages) == len(kept) + sum(dropped.values())
    assert set(dropped) <= set(allowed_reasons(ExtractStage)) | {ERROR}
