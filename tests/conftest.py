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
    """records: dicts with url, body (bytes|str), and optional type, status, content_type, headers, id."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=gzip_records)
        for i, r in enumerate(records):
            body = r["body"].encode("utf-8") if isinstance(r["body"], str) else r["body"]
            rec_type = r.get("type", "response")
            warc_headers = {"WARC-Date": "2024-01-01T00:00:00Z"}
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


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """One run of configs/sample.yaml on the bundled sample, shared by the tests that only read it."""
    out = str(tmp_path_factory.mktemp("sample") / "run")
    proc = refinery("run", "configs/sample.yaml", "--output", out)
    return out, proc
