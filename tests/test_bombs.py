"""Bombs: records of a few KB to a few MB that expand to up to a gigabyte are read in bounded memory; the bomb is
dropped as too_large (naming the cap it went over) and the page after it is kept."""

import collections
import gzip
import os

import pytest

from bombs import BEFORE_URL, BOMB_URL, BOMBS, GOOD_URL, MiB, control, read_in_child
from conftest import write_warc
from stages.read import ENGINES, WarcReadStage

HEADROOM = 300 * MiB  # over the peak RSS of reading an ordinary file
# a backstop only, far above the headroom: without the caps, a bomb ends in MemoryError here instead of taking
# gigabytes of a shared machine
AS_LIMIT = 4 << 30


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("bombs")


@pytest.fixture(scope="module")
def control_rss(folder):
    got = read_in_child(control(str(folder / "control.warc.gz")), AS_LIMIT)
    assert got["failure"] is None and [reason for _, reason, _ in got["records"]] == ["kept", "kept"], got
    return got["max_rss"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", list(BOMBS))
def test_bomb_is_read_in_bounded_memory_and_the_page_after_it_is_kept(name, engine, folder, control_rss):
    build, expanded, fate, cap = BOMBS[name]
    path = str(folder / f"{name}.warc.gz")
    if not os.path.exists(path):
        build(path)
    assert os.path.getsize(path) * 400 < expanded  # a bomb indeed
    got = read_in_child(path, AS_LIMIT, engine=engine)
    assert got["failure"] is None, got["failure"]
    assert got["max_rss"] <= control_rss + HEADROOM, f"peak RSS {got['max_rss'] / MiB:.0f} MiB, control {control_rss / MiB:.0f} MiB"
    outcome = {url: (reason, detail) for url, reason, detail in got["records"]}
    assert outcome.pop(GOOD_URL) == ("kept", "")
    assert outcome.pop(BEFORE_URL, ("kept", "")) == ("kept", "")
    if fate == "lost":
        assert outcome == {} and len(got["errors"]) == 1  # no record to drop; the file is listed with the skip
    else:
        reason, detail = outcome[BOMB_URL]
        assert reason == fate and cap in detail, outcome[BOMB_URL]


# the caps must not cost ordinary pages: at the limit a page is kept, one byte over it is too large

PAGE = "<html><head><title>t</title></head><body><p>{}</p></body></html>"


def page_of(size: int) -> bytes:
    filler = size - len(PAGE.format(""))
    return PAGE.format(("Ordinary words of an ordinary page. " * (filler // 36 + 1))[:filler]).encode()


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def read_one(tmp_path, body: bytes, headers: list, max_record_bytes: int):
    path = write_warc(str(tmp_path / "one.warc.gz"), [{"url": "http://x.org/p", "body": body, "headers": headers}])
    errors = []
    results = list(WarcReadStage([path], max_record_bytes=max_record_bytes).read_file(path, errors))
    assert not errors and len(results) == 1
    return results[0][1]


@pytest.mark.parametrize("encoding", ["plain", "chunked", "gzip", "chunked+gzip", "chunked+gzip one chunk"])
def test_a_page_at_the_cap_is_kept_and_one_byte_over_is_too_large(tmp_path, encoding):
    cap = 50_000
    for size, expected in ((cap, None), (cap + 1, "too_large")):
        body, headers = page_of(size), []
        if "gzip" in encoding:
            body, headers = gzip.compress(body, mtime=0), headers + [("Content-Encoding", "gzip")]
        if "chunked" in encoding:
            body, headers = chunked(body, len(body) if "one chunk" in encoding else 1000), headers + [("Transfer-Encoding", "chunked")]
        verdict = read_one(tmp_path, body, headers, cap)
        assert (verdict.reason if verdict else None) == expected, (encoding, size, verdict)


def test_one_chunk_of_incompressible_gzip_larger_than_the_cap_but_decoding_to_it_is_kept(tmp_path):
    # stored deflate blocks: the compressed chunk is a few bytes longer than the page it decodes to
    cap = 100_000
    body = gzip.compress(page_of(cap), compresslevel=0, mtime=0)
    assert len(body) > cap
    verdict = read_one(tmp_path, chunked(body, len(body)), [("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")], cap)
    assert verdict is None, verdict


def test_long_headers_under_the_caps_are_kept(tmp_path):
    # a 60 KB cookie line and 2,000 headers (~120 KB of headers in all): large, but real servers send such
    headers = [("Set-Cookie", "a=" + "x" * 60_000)] + [(f"X-Header-{i}", "value") for i in range(2000)]
    assert read_one(tmp_path, page_of(5000), headers, 10_000_000) is None


def test_header_over_the_line_cap_is_too_large_and_reading_goes_on(tmp_path):
    records = [
        {"url": "http://x.org/long", "body": page_of(5000), "headers": [("Set-Cookie", "a=" + "x" * 70_000)]},
        {"url": "http://x.org/next", "body": page_of(5000)},
    ]
    path = write_warc(str(tmp_path / "h.warc.gz"), records)
    errors = []
    results = list(WarcReadStage([path]).read_file(path, errors))
    got = {d.metadata["url"]: (v.reason, v.detail) if v else "kept" for d, v in results}
    assert got == {"http://x.org/long": ("too_large", "HTTP header line over 65536 bytes"), "http://x.org/next": "kept"}
    assert not errors
    assert collections.Counter(v.reason for _, v in results if v) == {"too_large": 1}
