"""Safety I (issue 12): refinery never deletes what it did not write, two commands never share a folder, nothing a
page or a file contains breaks a report or is echoed, listings stay under their base, and a full disk ends a run
with one line and no temporary files. One test per finding, each tried as a careless user or an attacker would."""

import errno
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, article_html, refinery, stats_json, tiny_config, write_warc
from test_pipeline import _tiny_warcs, check_accounting
from test_report import render, report_payload


# -- 1. refinery deletes only what it wrote --------------------------------------------------------------------------
def test_a_folder_that_is_not_a_run_is_refused_even_with_overwrite(tmp_path):
    warcs = _tiny_warcs(str(tmp_path / "in"), n_files=1)
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis-draft.tex").write_text("chapter 1")
    (home / "notes").mkdir()
    for extra in ([], ["--overwrite"]):
        proc = refinery("run", tiny_config(tmp_path), "--input", *warcs, "--output", str(home), *extra, check=False)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "holds no refinery run" in proc.stderr and "thesis-draft.tex" in proc.stderr
        assert sorted(os.listdir(home)) == ["notes", "thesis-draft.tex"]  # nothing written, nothing deleted


def test_output_overlapping_an_input_is_refused_and_the_input_survives(tmp_path):
    crawl = tmp_path / "crawl"
    warcs = _tiny_warcs(str(crawl), n_files=1)
    cfg = tiny_config(tmp_path)
    # the same folder in and out, twice, with --overwrite: once the input WARC was deleted by the second run
    for _ in range(2):
        proc = refinery("run", cfg, "--input", str(crawl), "--output", str(crawl), "--overwrite", check=False)
        assert proc.returncode == 2
    assert os.listdir(crawl) == [os.path.basename(warcs[0])]
    # an output inside an input folder: the next run would read this run's outputs
    proc = refinery("run", cfg, "--input", str(crawl), "--output", str(crawl / "run"), check=False)
    assert proc.returncode == 2 and "overlaps the input" in proc.stderr
    assert not os.path.exists(crawl / "run")  # the refused run left no folder behind
    # an input inside a run folder (a WARC copied into it): --overwrite would delete it
    out = tmp_path / "run"
    refinery("run", cfg, "--input", *warcs, "--output", str(out))
    inside = shutil.copy(warcs[0], out / "copy.warc.gz")
    proc = refinery("run", tiny_config(tmp_path, language={"threshold": 0.5}), "--input", inside, "--output", str(out),
                    "--overwrite", check=False)
    assert proc.returncode == 2 and "overlaps the input" in proc.stderr
    assert os.path.exists(inside)


def test_overwrite_removes_only_the_run_outputs(tmp_path):
    warcs = _tiny_warcs(str(tmp_path / "in"))
    out = tmp_path / "run"
    refinery("run", tiny_config(tmp_path), "--input", *warcs, "--output", str(out))
    (out / "my-notes.txt").write_text("what I saw in removed/")
    (out / "analysis").mkdir()
    (out / "analysis" / "plot.png").write_bytes(b"png")
    refinery("run", tiny_config(tmp_path, language={"threshold": 0.5}), "--input", warcs[0], "--output", str(out),
             "--overwrite")
    assert (out / "my-notes.txt").read_text() == "what I saw in removed/"
    assert (out / "analysis" / "plot.png").exists()
    assert check_accounting(str(out))["stages"][0]["in"] == 6  # the new run, alone in its outputs


# -- 6. one command per folder ---------------------------------------------------------------------------------------
HOLD_LOCK = """
import sys, time
sys.path.insert(0, {root!r})
from refinery.lock import FolderLock
FolderLock(sys.argv[1], sys.argv[2]).acquire()
print("locked", flush=True)
time.sleep(600)
"""


def hold_lock(folder: str, command: str) -> subprocess.Popen:
    """Another process holding a folder's lock, as a running `refinery run`/`train` does."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK.format(root=ROOT), folder, command],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_on_a_folder_in_use_fails_at_once_and_a_killed_run_leaves_no_stale_lock(tmp_path):
    warcs = _tiny_warcs(str(tmp_path / "in"), n_files=1)
    out = str(tmp_path / "run")
    cfg = tiny_config(tmp_path)
    refinery("run", cfg, "--input", *warcs, "--output", out)
    holder = hold_lock(out, "refinery run")
    try:
        start = time.monotonic()
        proc = refinery("run", cfg, "--input", *warcs, "--output", out, "--overwrite", check=False)
        assert proc.returncode == 2 and time.monotonic() - start < 60
        assert f"{out} is in use by another `refinery run` (pid {holder.pid}" in proc.stderr, proc.stderr
        assert os.path.exists(os.path.join(out, "documents"))  # --overwrite did not touch the folder in use
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the holder was killed: the kernel released its lock, and the run goes on (here: nothing left to do)
    proc = refinery("run", cfg, "--input", *warcs, "--output", out)
    assert "done in" in proc.stdout


def test_a_run_killed_midway_leaves_no_lock_behind(tmp_path):
    warcs = _tiny_warcs(str(tmp_path / "in"), n_files=2)
    out = str(tmp_path / "run")
    cfg = tiny_config(tmp_path)
    args = [sys.executable, "-m", "pipeline.cli", "run", cfg, "--input", *warcs, "--output", out, "--workers", "1"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(out, "run.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    refinery("run", cfg, "--input", *warcs, "--output", out)
    assert check_accounting(out)["stages"][0]["in"] == 12


def test_a_second_train_on_a_checkpoint_folder_in_use_fails_at_once(sample_run, tmp_path):
    out = str(tmp_path / "ckpt")
    holder = hold_lock(out, "refinery train")
    try:
        proc = refinery("train", "configs/train/tiny.yaml", "--data", sample_run[0], "--out", out, "--max-steps", "2",
                        "--quiet", check=False)
        assert proc.returncode == 2 and f"{out} is in use by another `refinery train`" in proc.stderr, proc.stderr
        assert os.listdir(out) == [".refinery.lock"]
    finally:
        holder.kill()
        holder.wait()
    refinery("train", "configs/train/tiny.yaml", "--data", sample_run[0], "--out", out, "--max-steps", "2", "--quiet")
    assert any(n.startswith("step_") for n in os.listdir(out))


# -- 2. crawled strings are data in the report -----------------------------------------------------------------------
HOSTILE = ["</script><script>document.body.innerHTML=''</script>", "<!--<script>", "javascript:alert(1)",
           "\"quoted\" and 'single'", "__TITLE__ __DATA__ __STAGE_ORDER__", "a\u2028line\u2029separator", "&amp; &lt;"]


def test_report_json_is_data_whatever_the_strings_hold():
    from pipeline.report import render_page

    data = {"mode": "run", "run": "/runs/__DATA__", "strings": HOSTILE}
    page = render_page("run __STAGE_ORDER__ </title><script>", data)
    blocks = re.findall(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert len(blocks) == 1
    assert json.loads(blocks[0]) == data
    assert not re.search(r"[<>&\u2028\u2029]", blocks[0])
    assert page.count("<script") == 2  # the data block and the renderer; nothing from the strings opened one
    assert "<title>run __STAGE_ORDER__ &lt;/title&gt;&lt;script&gt;</title>" in page


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A run (inspect_rate 1.0) whose pages carry script-breaking strings in their text and in their URLs."""
    base = tmp_path_factory.mktemp("hostile")
    from pipeline.sample_data import TOPICS, _article
    import random

    rng = random.Random(5)
    records = []
    # every page carries every string, in its text and its URL, so whichever pages the report picks as examples
    # (by a hash of their random record ids) show them
    every = " ".join(HOSTILE)
    escaped = every.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for i, topic in enumerate(sorted(TOPICS)[:8]):
        title, paragraphs = _article(rng, topic)
        url = f"https://news-{i}.example.org/{HOSTILE[0].replace(' ', '%20')}?q=__DATA__&x=\"'<!--<script>&y=1"
        records.append({"url": url, "body": article_html([escaped] + paragraphs + [escaped], title)})
    records.append({"url": "javascript:alert(document.cookie)//__TITLE__", "body": article_html(["</script>"] * 3)})
    warc = write_warc(str(base / "hostile.warc.gz"), records)
    cfg = json.loads(json.dumps({"executor": {"tasks": 1, "workers": 1}, "output": {"inspect_rate": 1.0},
                                 "stages": {"read": {}, "url_filter": {}, "extract": {}, "language": {},
                                            "gopher_quality": {}, "c4_quality": {}, "minhash_dedup": {}}}))
    import yaml

    path = base / "hostile.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = str(base / "run")
    refinery("run", str(path), "--input", warc, "--output", out)
    report = str(base / "report.html")
    refinery("report", out, "-o", report)
    return out, report


def test_report_of_hostile_pages_renders_every_chart_without_script_errors(hostile_run):
    run_dir, report = hostile_run
    data = report_payload(report)
    payload = json.dumps(data)
    assert "</script>" in payload and "<!--<script>" in payload and "__DATA__" in payload  # the strings got in
    dom = render(report)
    body = re.search(r"<body([^>]*)>", dom)[1]
    assert "data-errors" not in body, body
    expected = (2 + sum(len(s["histograms"]) + len(s["what_if"]) for s in data["stages"])
                + (1 if data["clusters"] else 0))
    assert f'data-charts="{expected}"' in body, body
    assert "&lt;!--&lt;script&gt;" in dom  # shown as text


# -- 3. errors never quote a file ------------------------------------------------------------------------------------
SECRET = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_a_file_that_is_not_an_archive_is_described_never_quoted(tmp_path):
    private = tmp_path / "home" / ".aws"
    private.mkdir(parents=True)
    (private / "credentials").write_text(f"[default]\n{SECRET}\n" * 3)
    crawl = tmp_path / "crawl"
    _tiny_warcs(str(crawl), n_files=1)
    os.symlink(private / "credentials", crawl / "zz-credentials.warc.gz")
    out = str(tmp_path / "run")
    run = refinery("run", tiny_config(tmp_path), "--input", str(crawl), "--output", out, check=False)
    # 1 of its 2 input files failed (nothing read from it): over input.max_failed_fraction, after writing everything
    assert run.returncode == 1 and "1 of 2 input files failed" in run.stderr, run.stderr[-3000:]
    stats = refinery("stats", out).stdout
    stats_js = stats_json(out)
    report = str(tmp_path / "report.html")
    refinery("report", out, "-o", report)
    (error,) = [e for e in stats_js["errors"] if e["file"].endswith("zz-credentials.warc.gz")]
    assert error["format"] == "not an archive (text/plain)" and error["size"] == len(f"[default]\n{SECRET}\n") * 3
    assert error["error"].startswith("at byte 0: ")
    assert "zz-credentials.warc.gz" in stats
    assert check_accounting(out)["stages"][0]["in"] == 6  # the real WARC beside it was read
    for needle in ("wJalrXUtnFEMI", "[default]", "aws_secret"):
        for text in (run.stdout, run.stderr, stats, open(report, encoding="utf-8").read()):
            assert needle not in text
        for folder, _, names in os.walk(out):
            for name in names:
                with open(os.path.join(folder, name), "rb") as f:
                    assert needle.encode() not in f.read(), os.path.join(folder, name)


# -- 4. listings stay under their base -------------------------------------------------------------------------------
def test_listing_entries_outside_the_base_are_refused_and_listed(tmp_path):
    base = tmp_path / "mirror"
    warcs = _tiny_warcs(str(base / "crawl-data" / "SEG"), n_files=1)
    outside = _tiny_warcs(str(tmp_path / "elsewhere"), n_files=1)[0]
    foreign = [outside, "file://" + outside, "http://169.254.169.254/latest/meta-data/iam", "s3://another-bucket/x.warc.gz",
               "../elsewhere/" + os.path.basename(outside), "crawl-data/../../elsewhere/x.warc.gz",
               "https://evil.example/\x1b[31mred.warc.gz"]
    entries = ["crawl-data/SEG/" + os.path.basename(warcs[0])] + foreign
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress(("\n".join(entries) + "\n").encode()))
    out = str(tmp_path / "run")
    run = refinery("run", tiny_config(tmp_path), "--input", str(listing), "--base-url", str(base), "--output", out)
    assert "7 listing entries refused" in run.stdout
    with open(os.path.join(out, "run.json")) as f:
        assert json.load(f)["inputs"] == [f"{base}/crawl-data/SEG/{os.path.basename(warcs[0])}"]
    errors = stats_json(out)["errors"]
    refused = [e["file"] for e in errors if "refused" in e["error"]]
    assert len(refused) == 7 and "http://169.254.169.254/latest/meta-data/iam" in refused
    assert "\x1b" not in "".join(refused) and "\\x1b[31mred" in "".join(refused)  # shown, never interpreted
    stats = refinery("stats", out).stdout
    assert stats.count("leads out of the base") == 7 and "\x1b" not in stats
    assert check_accounting(out)["stages"][0]["in"] == 6
    # the user can read foreign entries on purpose
    local_only = tmp_path / "local.paths"
    local_only.write_text(f"crawl-data/SEG/{os.path.basename(warcs[0])}\n{outside}\n")
    out2 = str(tmp_path / "run2")
    refinery("run", tiny_config(tmp_path), "--input", str(local_only), "--base-url", str(base), "--output", out2,
             "--allow-foreign-entries")
    assert check_accounting(out2)["stages"][0]["in"] == 12 and not stats_json(out2)["errors"]


def test_within_base_rules():
    from pipeline.inputs import within_base

    cc = "https://data.commoncrawl.org/"
    assert within_base(cc, "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-10/x.warc.gz")
    assert within_base(cc, "HTTPS://Data.CommonCrawl.org/crawl-data/x.warc.gz")
    assert not within_base(cc, "https://data.commoncrawl.org.evil.example/crawl-data/x")
    assert not within_base(cc, "http://data.commoncrawl.org/crawl-data/x")  # another scheme is another place
    cd = "https://data.commoncrawl.org/crawl-data/"
    assert within_base(cd, "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-10/../CC-MAIN-2024-18/x")
    assert not within_base(cd, "https://data.commoncrawl.org/crawl-data/../private/x")
    assert not within_base(cd, "https://data.commoncrawl.org/crawl-data/%2e%2e/private/x")  # what a server decodes
    assert not within_base("s3://commoncrawl/crawl-data/", "s3://commoncrawl/private/x")
    assert not within_base("/mirror/cc", "/mirror/cc-other/x.warc.gz")
    assert within_base("/mirror/cc", "file:///mirror/cc/crawl-data/x.warc.gz")


# -- 5. a full disk ----------------------------------------------------------------------------------------------------
def test_a_full_disk_in_a_writer_leaves_no_temporary_file_and_names_the_file(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from refinery.atomic import AtomicParquetWriter, DiskFull, write_json_atomic
    from refinery.schema import REMOVED_SCHEMA

    def no_space(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    path = str(tmp_path / "removed" / "00000.parquet")
    monkeypatch.setattr(pq.ParquetWriter, "write_table", no_space)
    with pytest.raises(DiskFull, match=re.escape(path)):
        with AtomicParquetWriter(path, REMOVED_SCHEMA, row_group_rows=1) as w:
            w.write({"id": "a", "url": "u", "reason": "r", "value": None, "detail": "", "text": "t"})
    assert os.listdir(tmp_path / "removed") == []
    monkeypatch.undo()
    monkeypatch.setattr(json, "dump", no_space)
    with pytest.raises(DiskFull, match="run.json"):
        write_json_atomic(str(tmp_path / "run.json"), {"a": 1})
    assert os.listdir(tmp_path) == ["removed"]


def _mount_tmpfs(folder, size: str) -> bool:
    os.makedirs(folder, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def test_a_full_disk_ends_the_run_with_one_line_and_the_rerun_resumes(sample_run, tmp_path):
    disk = tmp_path / "small-disk"
    if not _mount_tmpfs(disk, "600k"):
        pytest.skip("needs root to mount a small tmpfs (the writer's own cleanup is tested above by injection)")
    try:
        sample = os.path.join(sample_run[0], "sample", "refinery-sample.warc.gz")
        out = str(disk / "run")
        proc = refinery("run", "configs/sample.yaml", "--input", sample, "--output", out, check=False)
        assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
        last = proc.stderr.strip().splitlines()[-1]
        assert re.match(rf"refinery: error: disk full: .*{re.escape(out)}.*rerun the same command", last), last
        leftovers = [os.path.join(d, n) for d, dirs, names in os.walk(out) for n in names + dirs if ".tmp-" in n]
        assert leftovers == []
        # room again: the same command finishes the run, equal to the uninterrupted sample run
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        refinery("run", "configs/sample.yaml", "--input", sample, "--output", out)
        done, whole = check_accounting(out), stats_json(sample_run[0])
        assert [(s["name"], s["in"], s["kept"], s["dropped"]) for s in done["stages"]] == \
               [(s["name"], s["in"], s["kept"], s["dropped"]) for s in whole["stages"]]
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
