"""Decompression and header bombs for the read stage, generated on the fly: a few KB to a few MB on disk, up to
a gigabyte once decompressed. Each file holds a good HTML page after the bomb. tests/test_bombs.py reads each
in a child process and checks the child's peak memory.

    python tests/bombs.py OUT_DIR [AS_LIMIT_GB]   # writes every bomb, reads each in a child, prints a table

A repeated piece is compressed once and its compressed bytes repeated (each piece ends in a full flush, which
resets the compressor, so every repetition compresses to the same bytes): a gigabyte of zeros costs a CRC pass,
not a gigabyte of deflate.
"""

import json
import os
import struct
import subprocess
import sys
import uuid
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import article_html  # noqa: E402

MiB = 1 << 20
GOOD_URL = "http://after.example.org/page"
BOMB_URL = "http://bomb.example.org/bomb"
BEFORE_URL = "http://before.example.org/page"
GOOD_HTML = article_html(["The page after the bomb is an ordinary page with ordinary text, and it must be kept."]).encode()

# pieces: a list of (bytes, times) that together are the uncompressed data


def deflate(pieces, wbits: int = 31) -> bytes:
    """gzip (wbits 31), zlib (15) or raw deflate (-15) of the pieces, repeated pieces compressed only once."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out, crc, adler, size = [], 0, 1, 0
    for data, times in pieces:
        segment = c.compress(data) + c.flush(zlib.Z_FULL_FLUSH)
        out.append(segment * times)
        for _ in range(times):
            crc = zlib.crc32(data, crc) if wbits > 15 else crc
            adler = zlib.adler32(data, adler) if 0 < wbits <= 15 else adler
        size += len(data) * times
    out.append(c.flush())
    body = b"".join(out)
    if wbits > 15:
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + struct.pack("<II", crc, size & 0xFFFFFFFF)
    if wbits > 0:
        return b"\x78\xda" + body + struct.pack(">I", adler)
    return body


def size_of(pieces) -> int:
    return sum(len(data) * times for data, times in pieces)


def record(url: str, block) -> list:
    """A WARC response record around an HTTP block given as pieces."""
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Target-URI: {url}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {size_of(block)}\r\n\r\n"
    )
    return [(head.encode(), 1), *block, (b"\r\n\r\n", 1)]


def http(headers: list[str], body) -> list:
    head = "HTTP/1.1 200 OK\r\n" + "".join(h + "\r\n" for h in headers)
    return [(head.encode(), 1), *body]


def good(url: str = GOOD_URL) -> list:
    return record(url, http(["Content-Type: text/html; charset=utf-8", f"Content-Length: {len(GOOD_HTML)}", ""], [(GOOD_HTML, 1)]))


def zeros(mib: int) -> list:
    return [(bytes(MiB), mib)]


# -- the bombs: name -> (what, expanded bytes, build(path)) ----------------------------------------------------


def _write(path: str, members: list[bytes]) -> str:
    with open(path, "wb") as f:
        for m in members:
            f.write(m)
    return path


def chunked(path: str, mib: int = 1024) -> str:
    body = [(b"%x\r\n" % (mib * MiB), 1), *zeros(mib), (b"\r\n0\r\n\r\n", 1)]
    bomb = record(BOMB_URL, http(["Content-Type: text/html", "Transfer-Encoding: chunked", ""], body))
    return _write(path, [deflate(bomb), deflate(good())])


def chunked_gzip(path: str, mib: int = 1024) -> str:
    inner = deflate(zeros(mib))  # ~1 MB: one chunk well under max_record_bytes
    body = [(b"%x\r\n" % len(inner) + inner + b"\r\n0\r\n\r\n", 1)]
    bomb = record(BOMB_URL, http(["Content-Type: text/html", "Transfer-Encoding: chunked", "Content-Encoding: gzip", ""], body))
    return _write(path, [deflate(bomb), deflate(good())])


def encoded_body(path: str, encoding: str = "gzip", mib: int = 1024) -> str:
    inner = deflate(zeros(mib), wbits=31 if encoding == "gzip" else 15)
    bomb = record(BOMB_URL, http(["Content-Type: text/html", f"Content-Encoding: {encoding}", ""], [(inner, 1)]))
    return _write(path, [deflate(bomb), deflate(good())])


def header_line(path: str, mib: int = 512) -> str:
    head = [(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Bomb: ", 1), (b"a" * MiB, mib), (b"\r\n\r\n" + GOOD_HTML, 1)]
    return _write(path, [deflate(record(BOMB_URL, head)), deflate(good())])


def many_headers(path: str, mib: int = 64) -> str:
    line = b"X-Bomb: 1\r\n"
    per_mib = MiB // len(line)
    head = [(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n", 1), (line * per_mib, mib), (b"\r\n" + GOOD_HTML, 1)]
    return _write(path, [deflate(record(BOMB_URL, head)), deflate(good())])


def whole_file_gzip(path: str, mib: int = 1024) -> str:
    """One gzip stream for the whole file (warcio refuses it; read_file decompresses it whole with GzipFile):
    a good page, the chunked bomb, a good page."""
    body = [(b"%x\r\n" % (mib * MiB), 1), *zeros(mib), (b"\r\n0\r\n\r\n", 1)]
    bomb = record(BOMB_URL, http(["Content-Type: text/html", "Transfer-Encoding: chunked", ""], body))
    return _write(path, [deflate(good(BEFORE_URL) + bomb + good())])


def zeros_member(path: str, mib: int = 1024) -> str:
    """A gzip member of nothing but zeros, no WARC header and no line end, between two good records."""
    return _write(path, [deflate(good(BEFORE_URL)), deflate(zeros(mib)), deflate(good())])


def control(path: str) -> str:
    page = record(BOMB_URL, http(["Content-Type: text/html", ""], [(GOOD_HTML, 1)]))
    return _write(path, [deflate(page), deflate(good())])


# name -> (builder, expanded bytes, what becomes of the bomb, the cap its drop detail names). The bomb is dropped
# `too_large`, or "lost" when its bytes are no record at all: skipped to the next record start and listed in errors/
BOMBS = {
    "chunked": (chunked, 1024 * MiB, "too_large", "chunk of 1073741824 bytes"),
    "chunked_gzip": (chunked_gzip, 1024 * MiB, "too_large", "Content-Encoding gzip output"),
    "gzip_body": (encoded_body, 1024 * MiB, "too_large", "Content-Encoding gzip output"),
    "deflate_body": (lambda p: encoded_body(p, "deflate"), 1024 * MiB, "too_large", "Content-Encoding deflate output"),
    "header_line": (header_line, 512 * MiB, "too_large", "HTTP header line"),
    "many_headers": (many_headers, 64 * MiB, "too_large", "HTTP header block"),
    "whole_file_gzip": (whole_file_gzip, 1024 * MiB, "too_large", "chunk of 1073741824 bytes"),
    "zeros_member": (zeros_member, 1024 * MiB, "lost", ""),
}

# read one file with the read stage in this (child) process; print outcomes and peak RSS as JSON
CHILD = r"""
import json, resource, sys
limit = int(sys.argv[2])
if limit:  # a backstop only: peak RSS is what is measured
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from stages.read import WarcReadStage
errors = []
try:
    stage = WarcReadStage([sys.argv[1]], engine=sys.argv[3])
    out = [(d.metadata["url"], v.reason if v else "kept", v.detail if v else "") for d, v in stage.read_file(sys.argv[1], errors)]
    failure = None
except BaseException as e:
    out, failure = [], f"{type(e).__name__}: {e}"[:300]
print(json.dumps({"records": out, "errors": errors, "failure": failure, "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_in_child(path: str, as_limit: int = 0, timeout: float = 300, engine: str = "warcio") -> dict:
    """Outcomes and peak RSS (bytes) of reading `path` in a fresh process; "failure" is set when it raised."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", CHILD, path, str(as_limit), engine], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"records": [], "errors": [], "failure": f"exit {proc.returncode}: {proc.stderr[-500:]}", "max_rss": None}
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    import time

    folder = sys.argv[1]
    limit = int(float(sys.argv[2]) * (1 << 30)) if len(sys.argv) > 2 else 0
    os.makedirs(folder, exist_ok=True)
    base = read_in_child(control(os.path.join(folder, "control.warc.gz")), limit)
    print(f"{'control':16} {os.path.getsize(os.path.join(folder, 'control.warc.gz')):>10} B on disk  peak RSS {base['max_rss'] / MiB:7.0f} MiB")
    for name, (build, expanded, _, _) in BOMBS.items():
        path = build(os.path.join(folder, f"{name}.warc.gz"))
        t = time.time()
        got = read_in_child(path, limit)
        took = time.time() - t
        rss = f"{got['max_rss'] / MiB:7.0f} MiB" if got["max_rss"] else "   died"
        outcome = {url.split("/")[2].split(".")[0]: (reason, detail) for url, reason, detail in got["records"]}
        print(f"{name:16} {os.path.getsize(path):>10} B on disk {expanded / MiB:6.0f} MiB expanded  peak RSS {rss}  {took:5.1f} s  {outcome}"
              + (f"  errors: {[e['error'][:60] for e in got['errors']]}" if got["errors"] else "") + (f"  FAILED {got['failure'][-200:]}" if got["failure"] else ""))
