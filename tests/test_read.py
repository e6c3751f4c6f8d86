"""Stage `read`: every record is kept or dropped with a named reason; broken files are listed, not fatal."""

import collections
import gzip
import os

from conftest import article_html, shared_path, write_warc
from stages.read import WarcReadStage

PROSE = ["Crème brûlée and café au lait were served at the village fête, and everyone stayed late into the evening."]


def read_all(paths, **kw):
    stage = WarcReadStage(list(paths), **kw)
    errors = []
    results = [(doc, verdict) for p in paths for doc, verdict in stage.read_file(p, errors)]
    return results, errors


def reasons(results):
    return collections.Counter(v.reason if v else "kept" for _, v in results)


def test_record_types_statuses_and_charsets(tmp_path):
    html = article_html(PROSE)
    path = write_warc(
        str(tmp_path / "a.warc.gz"),
        [
            {"url": "http://x.org/req", "type": "request", "body": b"GET /req HTTP/1.1\r\nHost: x.org\r\n\r\n"},
            {"url": "http://x.org/ok", "body": html},
            {"url": "http://x.org/latin1-labelled-utf8", "body": html.encode("cp1252")},
            {"url": "http://x.org/utf8-labelled-latin1", "body": html.encode("utf-8"), "content_type": "text/html; charset=iso-8859-1"},
            {"url": "http://x.org/img.png", "body": b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "content_type": "image/png"},
            {"url": "http://x.org/binary", "body": bytes(range(256)) * 8},
            {"url": "http://x.org/404", "body": "<html>gone</html>", "status": "404 Not Found"},
            {"url": "http://x.org/empty", "body": b""},
            {"url": "http://x.org/big", "body": "<html>" + "x" * 5000 + "</html>"},
            {"url": "http://x.org/bad-gzip", "body": b"\x1f\x8bnot gzip at all" * 10, "headers": [("Content-Encoding", "gzip")]},
            {"url": "http://x.org/meta", "type": "metadata", "body": b"a: b"},
        ],
    )
    results, errors = read_all([path], max_record_bytes=4000)
    by_url = {d.metadata["url"]: (d, v) for d, v in results}
    assert not errors
    assert by_url["http://x.org/req"][1].reason == "not_response"
    assert by_url["http://x.org/meta"][1].reason == "not_response"
    assert by_url["http://x.org/img.png"][1].reason == "not_html"
    assert by_url["http://x.org/binary"][1].reason == "binary"
    assert by_url["http://x.org/404"][1].reason == "http_status"
    assert by_url["http://x.org/empty"][1].reason == "empty"
    assert by_url["http://x.org/big"][1].reason == "too_large"
    assert by_url["http://x.org/bad-gzip"][1].reason == "undecodable"
    for url in ("http://x.org/ok", "http://x.org/latin1-labelled-utf8", "http://x.org/utf8-labelled-latin1"):
        doc, verdict = by_url[url]
        assert verdict is None, (url, verdict)
        assert "Crème brûlée" in doc.text, url  # decoded with the right charset whatever the label said
        assert doc.metadata["date"] == "2024-01-01T00:00:00Z" and doc.id.startswith("<urn:uuid:")
    # accounting: each record of the file exactly once
    assert sum(reasons(results).values()) == 11


def test_whole_file_gzip_and_uncompressed_are_read_in_full(tmp_path):
    records = [{"url": f"http://x.org/{i}", "body": article_html(PROSE)} for i in range(5)]
    plain = write_warc(str(tmp_path / "plain.warc"), records, gzip_records=False)
    whole = str(tmp_path / "whole.warc.gz")
    with open(plain, "rb") as f, open(whole, "wb") as g:
        g.write(gzip.compress(f.read()))
    for path in (plain, whole):
        results, errors = read_all([path])
        assert reasons(results) == {"kept": 5}, path
        assert not errors


def test_unreadable_and_truncated_files_are_listed_not_fatal(tmp_path):
    good = write_warc(str(tmp_path / "good.warc.gz"), [{"url": "http://x.org/", "body": article_html(PROSE)}])
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(b"this is not a warc file at all\n" * 10)
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    cut = tmp_path / "cut.warc.gz"
    data = open(good, "rb").read()
    cut.write_bytes(data + data[: len(data) // 2])  # a second member cut in half
    results, errors = read_all([str(junk), str(empty), good, str(cut)])
    files_with_errors = {os.path.basename(e["file"]) for e in errors}
    assert "junk.warc.gz" in files_with_errors
    assert reasons(results)["kept"] >= 2  # good.warc.gz and the intact first member of cut.warc.gz


def test_real_short_record_is_counted_as_truncated():
    path = shared_path("warc", "edge", "resiliparse", "clipped.warc.gz")
    results, errors = read_all([path])
    assert reasons(results) == {"truncated": 1}


def test_real_edge_files_never_raise_and_every_record_is_accounted():
    folder = shared_path("warc", "edge")
    paths = sorted(os.path.join(r, n) for r, _, ns in os.walk(folder) for n in ns)
    results, errors = read_all(paths)
    unreadable = {os.path.basename(e["file"]) for e in errors}
    assert {"block-sized-records.warc.lz4", "fragment2_no_header.wet.gz"} <= unreadable
    # the single-stream gzip WARC is recovered whole, not cut after its first record
    whole, _ = read_all([os.path.join(folder, "warcio", "example-bad-non-chunked.warc.gz")])
    assert len(whole) == 6 and reasons(whole)["kept"] == 1


def test_real_2008_common_crawl_arc_is_read_past_its_off_by_one_filedesc():
    # its filedesc record's length counts the newline that should separate it from the first page: warcio
    # alone stops at the second record; refinery sees that a record starts right there and reads on
    path = shared_path("warc", "cc", "commoncrawl-2008-small-sample-1213893279526_0.arc")
    results, errors = read_all([path])
    counts = reasons(results)
    assert not errors
    assert sum(counts.values()) == 146 and counts["kept"] == 125
    assert len({d.id for d, _ in results}) == 146
