"""A steady-state input for bench/pipeline_vs_datatrove.py --scale N: N HTML pages from the real WARCs.

Source: every HTML response refinery's reader passes on (HTTP 2xx, HTML content type, not binary, decodable)
in ../shared/data/warc/{assembled,cc,other-real}, with byte-identical pages counted once. At the time of
writing that is 480 distinct real pages: 217 from the mini-crawl (assembled/), 125 from the 2008 Common Crawl
ARC, 10 + 1 + 1 from the Common Crawl WARC excerpts (cc/, the WET/WAT files hold no responses) and
90 + 22 + 14 from other-real/ (aut example, two Dolma samples). `distinct_pages` returns them.

The N documents go round-robin over those pages (shuffled once with a fixed seed, so every file mixes the
sources): document j is page j % P, so two copies of a page are always P (480) documents apart, and no cache
keyed on a page's content (trafilatura's duplicate-segment LRU, anything of refinery's) sees a repeat within
a few hundred documents. Each document gets a unique URL (the page's URL plus `bench_copy=<j>` as a query
parameter) and a unique WARC-Record-ID, and is written as a WARC response with the page decoded to UTF-8
(`Content-Type: text/html; charset=utf-8`, `WARC-Identified-Payload-Type: text/html`), so both readers pass on
all N of them. The documents are split into consecutive runs over F >= 4 gzipped WARC files (warcio).
"""

import glob
import hashlib
import io
import os
import random
import sys
import uuid

SOURCES = ("assembled", "cc", "other-real")


def source_files(data_dir: str) -> list[str]:
    """The WARC/ARC files under data_dir/{assembled,cc,other-real}; raises FileNotFoundError when absent."""
    missing = [d for d in SOURCES if not os.path.isdir(os.path.join(data_dir, d))]
    if missing:
        raise FileNotFoundError(f"--scale needs the real WARCs: {', '.join(os.path.join(data_dir, d) for d in missing)} not found")
    return sorted(f for d in SOURCES for f in glob.glob(os.path.join(data_dir, d, "*")) if os.path.isfile(f))


def distinct_pages(data_dir: str) -> list[dict]:
    """Every distinct HTML response refinery's reader passes on: dicts of url, date, html, source."""
    from datatrove.utils.logging import logger

    from stages.read import WarcReadStage

    files = source_files(data_dir)
    reader = WarcReadStage(files)
    pages, seen = [], set()
    # warcio's warnings on the 2008 ARC (printed to stderr) and the reader's are not this benchmark's business
    logger.disable("stages.read")
    stderr, sys.stderr = sys.stderr, io.StringIO()
    try:
        for path in files:
            for doc, verdict in reader.read_file(path, []):
                if verdict is not None:
                    continue
                digest = hashlib.sha1(doc.text.encode("utf-8", "surrogatepass")).digest()
                if digest in seen:
                    continue
                seen.add(digest)
                pages.append({"url": doc.metadata["url"], "date": doc.metadata["date"], "html": doc.text,
                              "source": os.path.relpath(path, data_dir)})
    finally:
        sys.stderr = stderr
        logger.enable("stages.read")
    if not pages:
        raise FileNotFoundError(f"no HTML responses found under {data_dir}")
    return pages


def copy_url(url: str, j: int) -> str:
    base, hash_sep, fragment = url.partition("#")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}bench_copy={j}" + (hash_sep + fragment if hash_sep else "")


def write_scaled(data_dir: str, out_dir: str, n: int, files: int = 4, seed: int = 0) -> tuple[list[str], int]:
    """Writes n documents into `files` WARCs under out_dir; returns (paths, number of distinct pages)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    pages = distinct_pages(data_dir)
    random.Random(seed).shuffle(pages)
    os.makedirs(out_dir, exist_ok=True)
    files = max(1, min(files, n))
    paths = []
    for f in range(files):
        start, end = f * n // files, (f + 1) * n // files
        path = os.path.join(out_dir, f"scaled-{f:03d}.warc.gz")
        with open(path, "wb") as out:
            writer = WARCWriter(out, gzip=True)
            for j in range(start, end):
                page = pages[j % len(pages)]
                payload = page["html"].encode("utf-8", "replace")
                http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                                   ("Content-Length", str(len(payload)))], protocol="HTTP/1.1")
                warc_headers = {
                    "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'bench-scale-{j}')}>",
                    "WARC-Identified-Payload-Type": "text/html",
                }
                if page["date"]:
                    warc_headers["WARC-Date"] = page["date"]
                record = writer.create_warc_record(copy_url(page["url"], j), "response", payload=io.BytesIO(payload),
                                                   length=len(payload), http_headers=http,
                                                   warc_headers_dict=warc_headers)
                writer.write_record(record)
        paths.append(path)
    return paths, len(pages)
