"""Input read over a network that fails (stages/remote_io.py): a loopback HTTP server (real sockets, a thread of
this process) serves real WARC files and fails a share of the requests (503 SlowDown, 429, 500, stalls past the
timeout, bodies cut mid-stream, reset connections). The run's documents equal those of a run over the same local
files, and the retries are counted; a file the server never serves is listed as failed; a run with more failed
files than input.max_failed_fraction ends non-zero after writing everything; a listing is streamed and read only
as far as --limit-files needs."""

import gzip
import json
import os
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from conftest import refinery, shared_path, stats_json
from stages.documents import read_documents

TIMEOUT_S = 0.25  # the client's timeout in these tests; a stall lasts STALL_S
STALL_S = 0.8
# real archives: a Common Crawl excerpt, two dolma samples, and two damaged files read around their damage (the
# reader resyncs: more requests, at other offsets): chunks of wrong sizes, and an uncompressed record too long
FILES = ["cc/CC-MAIN-2020-34-resiliparse-part-shared.warc.gz", "other-real/dolma-sample-0000.warc.gz",
         "other-real/dolma-sample-0001.warc.gz", "cc/whirlwind.warc.gz", "edge/warcio/example-wrong-chunks.warc.gz",
         "edge/warcio.js/example-bad-length.warc"]
DAMAGED = {"example-wrong-chunks.warc.gz", "example-bad-length.warc"}
# what the server does with the n-th request for a path, in turn: "ok" answers in full; "cut", "stall_body" and
# "reset" send half of what was asked first. A file is read whole only once its requests reach "ok"
FLAKY = ["503", "cut", "429", "stall_head", "cut", "500", "stall_body", "reset", "cut", "ok"]


class FlakyServer:
    """Serves files under `root`; the n-th request for a path gets faults[n % len(faults)]. ranges=False: a server
    that ignores Range headers (answers 200 with the whole file)."""

    def __init__(self, root: str, faults=("ok",), ranges: bool = True):
        self.root, self.faults, self.ranges = root, list(faults), ranges
        self.counts, self.actions, self.lock = Counter(), Counter(), threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # a client that hung up on a stall: expected
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, relative: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{relative}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, h: BaseHTTPRequestHandler):
        path = h.path.split("?", 1)[0].lstrip("/")
        with self.lock:
            n = self.counts[path]
            self.counts[path] += 1
            action = self.faults[n % len(self.faults)]
            self.actions[action] += 1
        full = os.path.join(self.root, path)
        if not os.path.isfile(full):
            h.send_error(404)
            return
        if action in ("503", "429", "500"):
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            h.send_response(int(action))
            if action == "429":
                h.send_header("Retry-After", "0")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        if action == "stall_head":
            time.sleep(STALL_S)
            return
        with open(full, "rb") as f:
            data = f.read()
        start, asked = 0, h.headers.get("Range")
        if asked and self.ranges:
            start = int(asked.split("=", 1)[1].split("-", 1)[0])
        body = data[start:]
        h.send_response(206 if asked and self.ranges else 200)
        if asked and self.ranges:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.send_header("Content-Length", str(len(body)))
        h.send_header("ETag", '"v1"')
        h.end_headers()
        if action == "ok":
            h.wfile.write(body)
            return
        h.wfile.write(body[: len(body) // 2])  # then: the connection ends, stalls, or is reset mid-body
        h.wfile.flush()
        if action == "stall_body":
            time.sleep(STALL_S)
        elif action == "reset":  # closed with a linger of 0: an RST, not an orderly end
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
        h.close_connection = True


def write_config(tmp_path, name: str = "cfg", **input_keys) -> str:
    cfg = {"input": {"retries": 10, "timeout_s": TIMEOUT_S, "backoff_s": 0.01, **input_keys},
           "executor": {"tasks": 2, "workers": 2}, "stages": {"read": {}}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def documents(run_dir: str) -> list[tuple]:
    rows = read_documents(os.path.join(run_dir, "documents"))
    return sorted((d["id"], d["text"], d.get("url"), d.get("warc_file"), d.get("dump")) for d in rows)


@pytest.fixture(scope="module")
def warc_root():
    return os.path.dirname(shared_path("warc", "cc"))


@pytest.fixture(scope="module")
def clean_run(warc_root, tmp_path_factory):
    base = tmp_path_factory.mktemp("clean")
    out = str(base / "run")
    refinery("run", write_config(base), "--input", *[os.path.join(warc_root, f) for f in FILES], "--output", out)
    return out


def test_flaky_server_gives_the_documents_of_a_clean_run(warc_root, clean_run, tmp_path):
    out = str(tmp_path / "run")
    with FlakyServer(warc_root, FLAKY) as server:
        proc = refinery("run", write_config(tmp_path), "--input", *[server.url(f) for f in FILES], "--output", out)
    # every kind of fault was served, more than once
    assert all(server.actions[a] >= 2 for a in set(FLAKY)), server.actions
    got, want = documents(out), documents(clean_run)
    assert len(want) > 20 and got == want
    stats = stats_json(out)
    assert stats["stages"][0]["in"] == stats_json(clean_run)["stages"][0]["in"]
    io = stats["input"]
    assert io["failed_files"] == 0 and io["files"] == len(FILES)
    # each failed answer was retried once: HTTP errors, stalled headers (timeouts) always; a body cut, stalled or
    # reset after its first half only when more than that half was wanted (a 16-byte look at a file's head is not)
    kinds = io["retries_by_kind"]
    assert [kinds.get(f"http_{n}") for n in (503, 429, 500)] == [server.actions[n] for n in ("503", "429", "500")]
    assert server.actions["stall_head"] <= kinds["timeout"] <= server.actions["stall_head"] + server.actions["stall_body"]
    assert 0 < kinds["cut"] <= server.actions["cut"] and 0 < kinds["connection"] <= server.actions["reset"]
    assert io["retries"] == sum(kinds.values()), (io, server.actions)
    assert "reads retried" in proc.stdout
    # the damaged files are listed as in the clean run (same first error, resyncs, bytes skipped), not failed
    def listed(run):
        return sorted((os.path.basename(e["file"]), e["error"], e["resyncs"], e["skipped_bytes"], e["failed"])
                      for e in stats_json(run)["errors"])

    assert listed(out) == listed(clean_run) and {e[0] for e in listed(out)} == DAMAGED
    assert not any(e[4] for e in listed(out))


def test_a_server_that_ignores_ranges_gives_the_same_records(warc_root):
    """A cut download from a server that answers a range request with the whole file: read again from the start,
    the bytes before the position discarded. The read stage's records and errors/ entries equal a local read's."""
    from stages.read import WarcReadStage
    from stages.remote_io import RetryPolicy

    policy = RetryPolicy(retries=10, timeout_s=TIMEOUT_S, backoff_s=0.01)
    with FlakyServer(warc_root, FLAKY, ranges=False) as server:
        for path in FILES[:4]:  # the intact ones: a damaged file is opened again at each resync, a cycle each
            local, remote = os.path.join(warc_root, path), server.url(path)
            want_errors, got_errors = [], []
            want = [(d.id, d.text, v) for d, v in WarcReadStage([local]).read_file(local, want_errors)]
            got = [(d.id, d.text, v) for d, v in WarcReadStage([remote], retry=policy).read_file(remote, got_errors)]
            assert got == want and len(want) > 0, path
            assert [e["error"] for e in got_errors] == [e["error"] for e in want_errors], path
    assert all(server.actions[a] >= 2 for a in set(FLAKY)), server.actions


def test_a_file_the_server_never_serves_is_listed_as_failed_and_the_run_ends_nonzero(warc_root, tmp_path):
    good = os.path.join(warc_root, FILES[0])
    out = str(tmp_path / "run")
    with FlakyServer(warc_root, ["503"]) as server:
        inputs = [good, server.url(FILES[1]), server.url("cc/no-such-file.warc.gz")]

        def run(**keys):
            return refinery("run", write_config(tmp_path, retries=2, **keys), "--input", *inputs, "--output", out,
                            check=False)

        proc = run()
        # 1 + 2 retries, for the one file that exists; the missing one (404) is not retried
        assert server.counts[FILES[1]] == 3 and server.counts["cc/no-such-file.warc.gz"] == 1
        assert proc.returncode == 1
        # one line, the last (before it: the count of warnings the tasks logged)
        message = [line for line in proc.stderr.strip().splitlines() if line.startswith("refinery: error:")]
        assert len(message) == 1 and proc.stderr.strip().splitlines()[-1] == message[0]
        assert message[0].startswith("refinery: error: 2 of 3 input files failed (66.7%")
        assert os.path.join(out, "errors") in message[0] and "input.max_failed_fraction 0.01" in message[0]
        # everything it could was written: the good file's documents, the funnel, the failed files listed
        assert len(read_documents(os.path.join(out, "documents"))) > 0
        stats = stats_json(out)
        failed = {e["file"]: e for e in stats["errors"] if e.get("failed")}
        assert set(failed) == set(inputs[1:])
        assert "gave up after 2 retries: last failure http_503" in failed[inputs[1]]["error"]
        assert "HTTP 404" in failed[inputs[2]]["error"]
        assert stats["input"]["failed_files"] == 2 and stats["input"]["retries_by_kind"] == {"http_503": 2}
        shown = refinery("stats", out).stdout
        assert "input files: 2 of 3 failed" in shown and shown.count("; failed)") == 2
        assert refinery("verify", out, check=False).returncode == 0

        # a rerun tolerating half the files failing continues the same run folder (the tolerance is not part of
        # what the run is), reads nothing again (every task completed), and 2 of 3 is still more than half
        requests = sum(server.counts.values())
        proc = run(max_failed_fraction=0.5)
        assert proc.returncode == 1 and "more than input.max_failed_fraction 0.5" in proc.stderr
        proc = run(max_failed_fraction=0.7)
        assert proc.returncode == 0, proc.stderr
        assert sum(server.counts.values()) == requests


def test_missing_local_files_count_as_failed_too(warc_root, tmp_path):
    # a file that became empty, and a file that is no archive: listed as failed (nothing read from them)
    empty, junk = tmp_path / "empty.warc.gz", tmp_path / "junk.warc.gz"
    empty.write_bytes(b"")
    junk.write_bytes(b"<html>an error page saved in place of a WARC</html>\n" * 20)
    files = [os.path.join(warc_root, f) for f in FILES] + [str(empty), str(junk)]
    out = str(tmp_path / "run")
    proc = refinery("run", write_config(tmp_path, max_failed_fraction=0.2), "--input", *files, "--output", out,
                    check=False)
    assert proc.returncode == 1 and "2 of 8 input files failed (25.0%" in proc.stderr
    # the damaged files (records read around the damage) are listed, but not failed
    errors = stats_json(out)["errors"]
    assert {os.path.basename(e["file"]) for e in errors if e["failed"]} == {"empty.warc.gz", "junk.warc.gz"}
    assert {os.path.basename(e["file"]) for e in errors if not e["failed"]} == DAMAGED


def _listing(entries: list[str], corrupt_tail: bool) -> bytes:
    data = gzip.compress(("\n".join(entries) + "\n").encode(), mtime=0)
    if corrupt_tail:
        # the gzip stream's second half is garbage: decompressing the whole listing fails
        data = data[: len(data) // 2] + bytes(range(256)) * 4
    return data


def test_listing_is_streamed_and_limit_files_stops_reading_it(warc_root, tmp_path):
    from pipeline.inputs import InputError, resolve_inputs

    base = tmp_path / "mirror"
    entries = []
    for i, f in enumerate(FILES[:4]):
        entry = f"crawl-data/CC-MAIN-2099-01/segments/1/warc/part-{i:05d}.warc.gz"
        os.makedirs(base / os.path.dirname(entry), exist_ok=True)
        os.symlink(os.path.join(warc_root, f), base / entry)
        entries.append(entry)
    # 50,000 more entries after the real ones (its gzip: ~0.3 MB, so its damaged half is far past them)
    filler = [f"crawl-data/CC-MAIN-2099-01/segments/{i * 7919 % 100003}/warc/filler-{i:07d}.warc.gz"
              for i in range(50_000)]
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(_listing(entries + filler, corrupt_tail=True))
    # the whole listing cannot be read: its gzip stream is damaged far after the entries used
    with pytest.raises(InputError, match="cannot read listing .* \\(after line \\d+\\)"):
        resolve_inputs([str(listing)], str(base))
    resolved = resolve_inputs([str(listing)], str(base), limit=2)
    assert resolved.files == [str(base / e) for e in entries[:2]]
    # a run with --limit-files reads the first entries only; over HTTP too, with the listing's server failing
    out = str(tmp_path / "run")
    refinery("run", write_config(tmp_path), "--input", str(listing), "--base-url", str(base), "--limit-files", "3",
             "--output", out)
    with open(os.path.join(out, "run.json")) as f:
        assert json.load(f)["inputs"] == [str(base / e) for e in entries[:3]]
    os.makedirs(base / "crawl-data" / "CC-MAIN-2099-01", exist_ok=True)
    (base / "crawl-data" / "CC-MAIN-2099-01" / "warc.paths.gz").write_bytes(listing.read_bytes())
    with FlakyServer(str(base), ["503", "cut", "ok"]) as server:
        out2 = str(tmp_path / "run2")
        refinery("run", write_config(tmp_path), "--snapshot", "CC-MAIN-2099-01", "--base-url", server.url(""),
                 "--limit-files", "2", "--output", out2)
    with open(os.path.join(out2, "run.json")) as f:
        assert json.load(f)["inputs"] == [server.url(e) for e in entries[:2]]
    assert documents(out2) and server.counts["crawl-data/CC-MAIN-2099-01/warc.paths.gz"] >= 2


def test_a_listing_line_without_end_is_refused_not_held(tmp_path):
    from pipeline.inputs import MAX_LISTING_LINE, read_listing

    listing = tmp_path / "warc.paths"
    listing.write_bytes(b"a.warc.gz\n" + b"x" * (10 * MAX_LISTING_LINE) + b"\nb.warc.gz\n")
    resolved = read_listing(str(listing), str(tmp_path))
    assert resolved.files == [str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz")]
    assert len(resolved.refused) == 1 and "over 65536 bytes" in resolved.refused[0]["error"]


def test_retrying_file_reads_what_a_local_read_reads(warc_root):
    """The byte stream itself: seeks back and forth, reads across cuts, stalls and 503s, with and without ranges."""
    from stages.remote_io import RetryPolicy, open_input

    path = FILES[1]
    with open(os.path.join(warc_root, path), "rb") as f:
        data = f.read()
    retried = Counter()
    policy = RetryPolicy(retries=10, timeout_s=TIMEOUT_S, backoff_s=0.01)
    for ranges in (True, False):
        with FlakyServer(warc_root, FLAKY, ranges=ranges) as server, \
                open_input(server.url(path), policy, lambda kind: retried.update([kind])) as f:
            assert f.read(100) == data[:100]
            f.seek(150_000)
            assert f.read(10_000) == data[150_000:160_000]
            f.seek(5)
            assert f.read() == data[5:]
            assert f.size == len(data) and f.read(10) == b""
    assert retried["timeout"] and retried["cut"] and retried["http_503"]


def test_config_keys_are_checked(tmp_path):
    from pipeline.config import ConfigError, parse_config

    bad = {"input": {"retries": -1, "timeout_s": 0, "backoff_s": "x", "max_failed_fraction": 2},
           "executor": {"randomize_start_s": 1.5}, "stages": {"read": {}}}
    with pytest.raises(ConfigError) as e:
        parse_config(bad)
    for key in ("input.retries", "input.timeout_s", "input.backoff_s", "input.max_failed_fraction",
                "executor.randomize_start_s"):
        assert key in str(e.value)
    cfg = parse_config({"input": {"retries": 3, "timeout_s": 5, "max_failed_fraction": 0.2},
                        "executor": {"randomize_start_s": 30}, "stages": {"read": {}}})
    assert (cfg.retry_policy().retries, cfg.retry_policy().timeout_s, cfg.max_failed_fraction) == (3, 5.0, 0.2)
    # how patiently a run reads is not what the run is: a rerun with other values continues the same folder
    assert cfg.settings() == parse_config({"stages": {"read": {}}}).settings()


@pytest.mark.parametrize("kind", ["local", "slurm", "ray"])
def test_randomize_start_reaches_datatrove(kind, tmp_path):
    from pipeline.executors import OPTION_DEFAULTS, make_executor

    options = dict(OPTION_DEFAULTS.get(kind, {}), partition="p") if kind != "local" else {}
    executor = make_executor(kind, options, [], 1, 1, str(tmp_path / "logs"), "curate", randomize_start_s=45)
    assert executor.randomize_start_duration == 45
