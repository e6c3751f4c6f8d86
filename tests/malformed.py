"""The malformed-input corpus: every kind of bad input refinery promises to survive, generated here (no
third-party files), each with the outcome refinery gives it. The README's "Bad input" table lists the same
cases; tests/test_malformed.py checks both the outcomes and that the table names every case.

    python tests/malformed.py OUT_DIR     # writes the corpus and prints what refinery's reader made of it

Outcomes per record are "kept", a drop reason of stage `read`, or "lost" (bytes warcio cannot parse as a
record: skipped to the next record start and reported, with their size, in errors/ of the run).
"""

import gzip
import io
import os
import random
import re
import sys
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import article_html, write_warc  # noqa: E402

PROSE = [
    "Crème brûlée and café au lait were served at the village fête, and everyone stayed late into the evening.",
    "The committee met on Tuesday to discuss the budget for the coming year and agreed on most of the points raised.",
    "Residents said the new library had become the busiest public building in town within a few months of opening.",
]
CP1252_PROSE = ["“Smart quotes” cost €5 at the café — a fair price, said the owner, for a page that declares nothing."]


@dataclass
class Case:
    name: str  # file name in the corpus
    what: str  # the damage, in words
    outcome: dict  # url -> "kept" | read drop reason | "lost"
    listed: bool  # the file appears in errors/ (refinery stats: "input error")
    files: list = field(default_factory=list)


def _record(url: str, body, gz: bool = True, **kw) -> bytes:
    buf = io.BytesIO()
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    writer = WARCWriter(buf, gzip=gz)
    body = body.encode("utf-8") if isinstance(body, str) else body
    content_type = kw.get("content_type", "text/html; charset=utf-8")
    headers = ([("Content-Type", content_type)] if content_type else []) + kw.get("headers", [])
    http = StatusAndHeaders(kw.get("status", "200 OK"), headers, protocol="HTTP/1.1")
    warc_headers = {"WARC-Date": "2024-01-01T00:00:00Z", "WARC-Record-ID": f"<urn:uuid:{_uuid(url)}>"}
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict=warc_headers))
    return buf.getvalue()


def _uuid(url: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, url))


def _page(i: int) -> str:
    return article_html([PROSE[i % 3], PROSE[(i + 1) % 3]], title=f"Page {i}")


def _three(prefix: str, gz: bool = True) -> tuple[list[str], list[bytes]]:
    urls = [f"http://{prefix}.example.org/{i}" for i in range(3)]
    return urls, [_record(u, _page(i), gz) for i, u in enumerate(urls)]


def _edit_block(record: bytes, gz: bool, edit) -> bytes:
    raw = gzip.decompress(record) if gz else record
    raw = edit(raw)
    return gzip.compress(raw, mtime=0) if gz else raw


def _content_length(delta: int):
    def edit(raw: bytes) -> bytes:
        m = re.search(rb"Content-Length: (\d+)", raw)
        return raw[: m.start(1)] + str(int(m.group(1)) + delta).encode() + raw[m.end(1) :]

    return edit


def _drop_header(name: str):
    return lambda raw: re.sub(rb"\r\n" + name.encode() + rb": [^\r]*", b"", raw, count=1)


def _arc(records: list[tuple[str, bytes]], filedesc_counts_separator: bool) -> bytes:
    """An ARC v1 file. The 2008 Common Crawl ARCs count the filedesc record's trailing newline in its length."""
    desc = b"1 0 CommonCrawl\nURL IP-address Archive-date Content-type Archive-length\n"
    length = len(desc) + (1 if filedesc_counts_separator else 0)
    out = b"filedesc://sample.arc 0.0.0.0 20080619093439 text/plain %d\n" % length + desc + b"\n"
    for url, html in records:
        block = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + html
        out += f"{url} 192.0.2.1 20080509190241 text/html {len(block)}\n".encode() + block + b"\n"
    return out


def build_corpus(folder: str) -> list[Case]:
    """Writes every malformed file under `folder`; returns the cases in the README's order."""
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(5)
    cases: list[Case] = []

    def add(name: str, data: bytes | None, what: str, outcome: dict, listed: bool):
        path = os.path.join(folder, name)
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)
        cases.append(Case(name, what, outcome, listed, [path]))

    urls, recs = _three("good")
    add("good.warc.gz", b"".join(recs), "control: three pages, one gzip member per record", dict.fromkeys(urls, "kept"), False)

    urls, recs = _three("plain", gz=False)
    add("uncompressed.warc", b"".join(recs), "uncompressed WARC", dict.fromkeys(urls, "kept"), False)

    urls, recs = _three("whole", gz=False)
    add("whole_file_gzip.warc.gz", gzip.compress(b"".join(recs), mtime=0), "whole file gzipped as one stream, not one member per record", dict.fromkeys(urls, "kept"), False)

    urls, recs = _three("cutlast")
    add("truncated_last_member.warc.gz", recs[0] + recs[1] + recs[2][: len(recs[2]) // 2], "last gzip member cut in half (an interrupted download)", {urls[0]: "kept", urls[1]: "kept", urls[2]: "lost"}, True)

    urls, recs = _three("cutmid")
    add("truncated_middle_member.warc.gz", recs[0] + recs[1][: len(recs[1]) // 2] + recs[2], "a gzip member cut in half in the middle of the file", {urls[0]: "kept", urls[1]: "lost", urls[2]: "kept"}, True)

    urls, recs = _three("corrupt")
    damaged = bytearray(recs[1])
    damaged[len(damaged) // 2 : len(damaged) // 2 + 24] = bytes(24)
    add("corrupt_middle_member.warc.gz", recs[0] + bytes(damaged) + recs[2], "24 zeroed bytes inside the middle gzip member", {urls[0]: "kept", urls[1]: "lost", urls[2]: "kept"}, True)

    add("not_gzip.warc.gz", b"this is a text file that was named like a WARC\n" * 20, "text file named .warc.gz", {}, True)
    add("random_bytes.warc.gz", bytes(rng.getrandbits(8) for _ in range(5000)), "5,000 random bytes", {}, True)
    add("zero_length.warc.gz", b"", "zero-length file", {}, True)
    add("missing.warc.gz", None, "path that does not exist (a listing entry that went away)", {}, True)
    os.makedirs(os.path.join(folder, "a_directory.warc.gz"), exist_ok=True)
    cases.append(Case("a_directory.warc.gz", "path that is a directory", {}, True, [os.path.join(folder, "a_directory.warc.gz")]))

    urls, recs = _three("cllong")
    add("content_length_too_long.warc.gz", recs[0] + _edit_block(recs[1], True, _content_length(500)) + recs[2], "gzip member whose Content-Length claims 500 bytes more than it holds", {urls[0]: "kept", urls[1]: "truncated", urls[2]: "kept"}, False)

    urls, recs = _three("clshort")
    add("content_length_too_short.warc.gz", recs[0] + _edit_block(recs[1], True, _content_length(-300)) + recs[2], "gzip member whose Content-Length is 300 bytes short", {urls[0]: "kept", urls[1]: "bad_length", urls[2]: "kept"}, True)

    urls, recs = _three("plainlong", gz=False)
    add("content_length_too_long.warc", recs[0] + _edit_block(recs[1], False, _content_length(200)) + recs[2], "uncompressed record whose Content-Length runs 200 bytes into the next record", {urls[0]: "kept", urls[1]: "bad_length", urls[2]: "kept"}, True)

    urls, recs = _three("plainshort", gz=False)
    add("content_length_too_short.warc", recs[0] + _edit_block(recs[1], False, _content_length(-300)) + recs[2], "uncompressed record whose Content-Length is 300 bytes short", {urls[0]: "kept", urls[1]: "bad_length", urls[2]: "kept"}, True)

    urls, recs = _three("nosep", gz=False)
    add("no_blank_lines.warc", b"".join(r[:-4] for r in recs), "uncompressed records without the blank lines between them", dict.fromkeys(urls, "kept"), False)

    urls, recs = _three("notype")
    add("missing_warc_type.warc.gz", recs[0] + _edit_block(recs[1], True, _drop_header("WARC-Type")) + recs[2], "record without WARC-Type", {urls[0]: "kept", urls[1]: "not_response", urls[2]: "kept"}, False)

    urls, recs = _three("nouri")
    add("missing_target_uri.warc.gz", recs[0] + _edit_block(recs[1], True, _drop_header("WARC-Target-URI")) + recs[2], "response record without WARC-Target-URI (warcio cannot parse it)", {urls[0]: "kept", urls[1]: "lost", urls[2]: "kept"}, True)

    urls, recs = _three("noid")
    no_id = _drop_header("WARC-Record-ID")
    add("missing_id_and_date.warc.gz", b"".join(_edit_block(r, True, lambda raw: _drop_header("WARC-Date")(no_id(raw))) for r in recs), "records without WARC-Record-ID and WARC-Date (ids are made from file and position)", dict.fromkeys(urls, "kept"), False)

    arc_pages = [(f"http://arc.example.org/{i}", _page(i).encode()) for i in range(3)]
    add("filedesc_length_off_by_one.arc", _arc(arc_pages, filedesc_counts_separator=True), "ARC whose filedesc length counts the separator (as Common Crawl's 2008 ARCs do)", {u: "kept" for u, _ in arc_pages}, False)

    # one file of records whose HTTP payload is the problem
    big = b"<html><body>" + b"<p>" + b"All work and no play makes a very large page. " * 1_100_000 + b"</p></body></html>"
    chunked = _page(0).encode()
    gz_page = gzip.compress(_page(1).encode(), mtime=0)
    records = [
        ("chunked-ok", b"%x\r\n" % len(chunked) + chunked + b"\r\n0\r\n\r\n", {"headers": [("Transfer-Encoding", "chunked")]}, "kept"),
        ("chunked-bad-size", b"zz\r\n" + chunked + b"\r\n0\r\n\r\n", {"headers": [("Transfer-Encoding", "chunked")]}, "kept"),
        ("chunked-cut", b"%x\r\n" % (len(chunked) + 400) + chunked, {"headers": [("Transfer-Encoding", "chunked")]}, "kept"),
        ("gzip-ok", gz_page, {"headers": [("Content-Encoding", "gzip")]}, "kept"),
        ("gzip-broken", gz_page[:10] + bytes(40) + gz_page[50:], {"headers": [("Content-Encoding", "gzip")]}, "undecodable"),
        ("gzip-not-gzip", b"\x1f\x8bnot gzip at all" * 10, {"headers": [("Content-Encoding", "gzip")]}, "undecodable"),
        ("latin1-labelled-utf8", _page(0).encode("latin-1"), {}, "kept"),
        ("cp1252-labelled-utf8", article_html(CP1252_PROSE).encode("cp1252"), {}, "kept"),
        ("utf8-labelled-latin1", _page(0).encode(), {"content_type": "text/html; charset=iso-8859-1"}, "kept"),
        ("cp1252-no-charset", article_html(CP1252_PROSE).encode("cp1252"), {"content_type": "text/html"}, "kept"),
        ("unknown-charset", _page(0).encode(), {"content_type": "text/html; charset=klingon-8"}, "kept"),
        ("no-content-type-html", _page(2).encode(), {"content_type": ""}, "kept"),
        ("no-content-type-png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, {"content_type": ""}, "not_html"),
        ("binary-labelled-html", bytes(rng.getrandbits(8) for _ in range(4096)), {}, "binary"),
        ("page-50mb", big, {}, "too_large"),
        ("status-404", _page(0).encode(), {"status": "404 Not Found"}, "http_status"),
        ("empty-body", b"", {}, "empty"),
        ("image", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), {"content_type": "image/png"}, "not_html"),
    ]
    data = b""
    outcome = {}
    for slug, body, kw, expected in records:
        url = f"http://records.example.org/{slug}"
        data += _record(url, body, **kw)
        outcome[url] = expected
    add("bad_payloads.warc.gz", data, "one file of records with broken or mislabelled HTTP payloads (one per row below)", outcome, False)
    return cases


# pages that reach extraction: (slug, html, extract outcome with the corpus config's 1 s timeout)
def extraction_pages() -> list[tuple[str, str, str]]:
    para = "<p>" + PROSE[1] + "</p>"
    return [
        ("deeply-nested", "<html><body>" + "<div>" * 100_000 + para + "</div>" * 100_000 + "</body></html>", "empty"),
        ("unclosed-nesting", "<html><body>" + "<div><span>" * 100_000 + para + "</body></html>", "empty"),
        ("enormous-dom", "<html><body>" + para * 60_000 + "</body></html>", "timeout"),
        ("200k-attributes", "<html><body><div " + " ".join(f'a{i}="x"' for i in range(200_000)) + ">" + para + "</div></body></html>", "timeout"),
        ("after-the-slow-ones", _page(2), "kept"),
    ]


def write_extraction_file(folder: str) -> tuple[str, dict]:
    path = os.path.join(folder, "slow_pages.warc.gz")
    pages = extraction_pages()
    write_warc(path, [{"url": f"http://slow.example.org/{slug}", "body": html} for slug, html, _ in pages])
    return path, {f"http://slow.example.org/{slug}": outcome for slug, _, outcome in pages}


if __name__ == "__main__":
    import collections

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from stages.read import WarcReadStage

    for case in build_corpus(sys.argv[1]):
        errors: list = []
        results = list(WarcReadStage([]).read_file(case.files[0], errors))
        got = collections.Counter(v.reason if v else "kept" for _, v in results)
        err = f" | listed: {errors[0]['error'][:70]}" if errors else ""
        print(f"{case.name:34} {dict(got)}{err}")
