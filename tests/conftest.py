import io
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))


def shared_path(*parts) -> str:
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip(f"real test data not present: {path}")
    return path


def extraction_html_pages() -> list[str]:
    """Every HTML page of ../shared/data/extraction/<benchmark>/html, decoded as the read stage decodes a payload
    (stages.read.decode_html, no declared charset); [] without the data."""
    import gzip

    from stages.read import decode_html

    folder = os.path.join(SHARED, "extraction")
    pages = []
    for dataset in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        html_dir = os.path.join(folder, dataset, "html")
        for name in sorted(os.listdir(html_dir)) if os.path.isdir(html_dir) else []:
            opener = gzip.open if name.endswith(".gz") else open
            with opener(os.path.join(html_dir, name), "rb") as f:
                payload = f.read()
            decoded = decode_html(payload, None)  # (text, ...), or None
            pages.append(payload.decode("utf-8", "replace") if decoded is None else decoded[0])
    return pages


def refinery(*args, check=True, env=None, timeout=600):
    """Runs the installed `refinery` command the way a user does; returns the CompletedProcess."""
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"refinery {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def stats_json(run_dir: str) -> dict:
    return json.loads(refinery("stats", run_dir, "--json").stdout)


def write_warc(path: str, records: list[dict], gzip_records: bool = True):
    """records: dicts with url, body (bytes|str), and optional type, status, content_type, headers, id, date."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=gzip_records)
        for i, r in enumerate(records):
            body = r["body"].encode("utf-8") if isinstance(r["body"], str) else r["body"]
            rec_type = r.get("type", "response")
            warc_headers = {"WARC-Date": r.get("date", "2024-01-01T00:00:00Z")}
            if "id" in r:
                warc_headers["WARC-Record-ID"] = r["id"]
            http = None
            if rec_type == "response":
                headers = [("Content-Type", r.get("content_type", "text/html; charset=utf-8"))] + r.get("headers", [])
                http = StatusAndHeaders(r.get("status", "200 OK"), headers, protocol="HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(r["url"], rec_type, payload=io.BytesIO(body), http_headers=http, warc_headers_dict=warc_headers)
            )
    return path


def article_html(paragraphs: list[str], title: str = "A page") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a> | <a href='/about'>About</a></nav>"
        f"<article><h1>{title}</h1>{body}</article><footer>Copyright example</footer></body></html>"
    )


NO_NETWORK = """
import socket, os
_log = os.environ["REFINERY_TEST_NET_LOG"]
def _note(what):
    with open(_log, "a") as f:
        f.write(what + "\\n")
_connect = socket.socket.connect
def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
        _note(f"connect {address}")
        raise OSError("network blocked by the test")
    return _connect(self, address)
socket.socket.connect = connect
_getaddrinfo = socket.getaddrinfo
def getaddrinfo(host, *a, **k):
    if host not in ("127.0.0.1", "::1", "localhost", None):
        _note(f"resolve {host}")
        raise socket.gaierror("name resolution blocked by the test")
    return _getaddrinfo(host, *a, **k)
socket.getaddrinfo = getaddrinfo
"""


def no_network_env(folder) -> dict:
    """Environment whose Python processes (workers included) cannot reach anything but loopback; every attempt
    is written to folder/attempts.log."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "sitecustomize.py"), "w") as f:
        f.write(NO_NETWORK)
    log = os.path.join(folder, "attempts.log")
    open(log, "w").close()
    return dict(os.environ, PYTHONPATH=str(folder), REFINERY_TEST_NET_LOG=log)


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """One run of configs/sample.yaml on the bundled sample, with the network blocked, shared by the tests
    that only read it. Returns (run dir, CompletedProcess, network attempts log)."""
    base = tmp_path_factory.mktemp("sample")
    env = no_network_env(str(base / "netblock"))
    out = str(base / "run")
    proc = refinery("run", "configs/sample.yaml", "--output", out, env=env)
    return out, proc, env["REFINERY_TEST_NET_LOG"]


TINY_CONFIG = {
    "executor": {"tasks": 2, "workers": 2},
    "stages": {"read": {}, "extract": {}, "language": {}, "gopher_quality": {}, "minhash_dedup": {}, "pii": {}},
}


def tiny_config(tmp_path, **changes) -> str:
    import copy

    import yaml

    cfg = copy.deepcopy(TINY_CONFIG)
    for key, value in changes.items():
        cfg["stages"][key] = value
    path = os.path.join(str(tmp_path), "tiny.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


def run_bench(script: str, *args, timeout=300) -> str:
    """Runs bench/<script> as a user does; returns its stdout after checking it exited 0."""
    proc = subprocess.run([sys.executable, os.path.join("bench", script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout
