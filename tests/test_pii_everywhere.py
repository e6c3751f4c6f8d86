"""With `pii` in the config, no file of the run folder and no report holds the PII the `pii` stage replaces:
not removed/ (documents dropped before `pii`), not inspect/ (every stage's sample), not work/filtered/ (deleted
once the run is done), not the url columns, not the HTML report. `output.raw_text` and `output.keep_work`
keep what a user asks for."""

import os
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import refinery, stats_json, write_warc
from pipeline.sample_data import FOREIGN, _article, _page
from stages.base import scrubbed_head
from stages.documents import read_documents
from stages.pii import PIIStage

# pages, by what should happen to them: (kind, host, fate)
PAGES = [
    ("blocked", "www.blocked-site.com", "url_filter"),
    ("french", "www.journal-du-village.fr", "language"),
    ("short", "www.parish-pump.org.uk", "gopher_quality"),
    ("dupa", "www.northfield-gazette.org", "dedup"),
    ("dupb", "www.riverside-notes.net", "dedup"),
    ("keptone", "www.hilltop-journal.com", "kept"),
    ("kepttwo", "www.valley-courier.com", "kept"),
    ("missing", "www.old-town-news.org", "read"),
]


def planted(i: int, kind: str) -> dict:
    """The PII of one page, all distinct (no value a substring of another): in its text and in its URL."""
    text_kind = "dup" if kind.startswith("dup") else kind  # the two duplicates share their text
    return {
        "text_email": f"{text_kind}.text@example.com",
        "text_ip": f"93.184.216.{110 + (3 if text_kind == 'dup' else i)}",
        "text_phone": f"415-555-{2610 + (3 if text_kind == 'dup' else i)}",
        "path_email": f"{kind}.path@example.com",
        "query_email": f"{kind}.query@example.com",
        "query_ip": f"93.184.216.{150 + i}",
        "query_phone": f"415-555-{2650 + i}",
        "encoded_email": f"{kind}.enc%40example.com",
    }


def page_url(host: str, kind: str, p: dict) -> str:
    return (f"https://{host}/{kind}/{p['path_email']}?email={p['query_email']}&ip={p['query_ip']}"
            f"&tel={p['query_phone']}&e={p['encoded_email']}")


def pii_sentence(p: dict) -> str:
    return f"Write to {p['text_email']} or call {p['text_phone']}; the office server is at {p['text_ip']}."


@pytest.fixture(scope="module")
def warcs(tmp_path_factory):
    """Two WARC files (two tasks) with PII in the text and URL of pages each stage drops, and of kept pages.
    Returns (files, {kind: planted values})."""
    base = tmp_path_factory.mktemp("pii-warcs")
    rng = random.Random(7)
    dup_title, dup_paragraphs = _article(rng, "history")
    records, values = [], {}
    for i, (kind, host, fate) in enumerate(PAGES):
        p = planted(i, kind)
        values[kind] = p
        if fate == "language":
            html = _page(host, "Le village", [" ".join(FOREIGN["fr"][:5]) + " " + pii_sentence(p), " ".join(FOREIGN["fr"][5:])], "fr")
        elif fate == "gopher_quality":
            html = _page(host, "Club news", [f"The club meets on Friday evening at the village hall. {pii_sentence(p)}"])
        elif fate == "dedup":
            html = _page(host, dup_title, dup_paragraphs + [pii_sentence(p)])
        else:
            title, paragraphs = _article(rng, "gardening" if kind == "keptone" else "astronomy")
            html = _page(host, title, [paragraphs[0], pii_sentence(p), *paragraphs[1:]])
        record = {"url": page_url(host, kind, p), "body": html}
        if fate == "read":
            record["status"] = "404 Not Found"
        records.append(record)
    files = [write_warc(str(base / f"part-{n}.warc.gz"), records[n::2]) for n in range(2)]
    return files, values


def config(folder, pii: bool, **output) -> str:
    cfg = {
        "executor": {"tasks": 2, "workers": 1},
        # every document sampled, whole HTML included: the inspection rows carry all the PII they can
        "output": {"inspect_rate": 1.0, "inspect_text_chars": 1_000_000, **output},
        "stages": {
            "read": {},
            "url_filter": {"use_integrated_lists": False, "extra_domains": ["blocked-site.com"]},
            "extract": {},
            "language": {},
            "gopher_quality": {},
            "minhash_dedup": {},
        },
    }
    if pii:
        cfg["stages"]["pii"] = {}
    path = os.path.join(str(folder), "config.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


@pytest.fixture(scope="module")
def runs(warcs, tmp_path_factory):
    """name -> run folder, each run made once: scrubbed (pii), unscrubbed (no pii), raw (pii, raw_text and
    keep_work)."""
    files, _ = warcs
    settings = {"scrubbed": dict(pii=True), "unscrubbed": dict(pii=False),
                "raw": dict(pii=True, raw_text=True, keep_work=True)}
    made = {}

    def run(name):
        if name not in made:
            folder = tmp_path_factory.mktemp(name)
            out = str(folder / "run")
            cfg = config(folder, **settings[name])
            refinery("run", cfg, "--input", *files, "--output", out)
            report = str(folder / "report.html")
            refinery("report", out, "-o", report)
            made[name] = (out, report, cfg)
        return made[name]

    return run


def _strings(path: str) -> str:
    """Everything a file says: each string column of a Parquet file (nested columns as their Python repr), the
    decoded bytes of any other file."""
    if path.endswith(".parquet"):
        table = pq.read_table(path)
        parts = []
        for column in table.columns:
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                parts += [s for s in column.to_pylist() if s]
            elif pa.types.is_nested(column.type):
                parts.append(repr(column.to_pylist()))
        return "\n".join(parts)
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def find(paths: list[str], values: list[str], root: str) -> dict[str, set[str]]:
    """value -> the files (relative to root) that hold it."""
    found: dict[str, set[str]] = {}
    for path in paths:
        blob = _strings(path)
        for v in values:
            if v in blob:
                found.setdefault(v, set()).add(os.path.relpath(path, root))
    return found


def in_folder(found: dict, value: str, *folder: str) -> bool:
    """Whether `value` was found in a file of run/<folder>/."""
    return any(w.split(os.sep)[1 : 1 + len(folder)] == list(folder) for w in found.get(value, ()))


def files_under(folder: str) -> list[str]:
    return [os.path.join(d, n) for d, _, names in os.walk(folder) for n in names]


def all_values(values: dict) -> list[str]:
    out = []
    for p in values.values():
        out += p.values()
        out.append(p["encoded_email"].replace("%40", "@"))  # decoded, in case something decodes it and writes that
    return sorted(set(out))


def test_with_pii_no_file_of_the_run_or_report_holds_planted_pii_without_it_every_one_does(warcs, runs):
    _, values = warcs
    out, report, _ = runs("scrubbed")
    dropped = {s["name"]: s["dropped"] for s in stats_json(out)["stages"]}
    # the premise: a page dropped by each stage, two kept
    assert dropped["read"] == {"http_status": 1} and dropped["url_filter"] == {"domain": 1}
    assert dropped["language"] == {"wrong_language": 1} and dropped["gopher_quality"] == {"gopher_short_doc": 1}
    assert dropped["minhash_dedup"] == {"duplicate": 1}
    docs = read_documents(os.path.join(out, "documents"))
    assert len(docs) == 3  # both unique articles, one of the duplicates

    leaks = find(files_under(out) + [report], all_values(values), os.path.dirname(out))
    assert leaks == {}

    # replaced as in text, in the path and the query (percent-encoded too); the host kept
    by_host = {d["url"].split("/")[2]: d for d in docs}
    assert by_host["www.hilltop-journal.com"]["url"] == (
        "https://www.hilltop-journal.com/keptone/<EMAIL>?email=<EMAIL>&ip=<IP_ADDRESS>&tel=<PHONE_NUMBER>&e=<EMAIL>")
    assert "<EMAIL>" in by_host["www.hilltop-journal.com"]["text"]
    removed = pq.read_table(os.path.join(out, "removed", "url_filter")).to_pylist()
    assert [r["url"].split("?")[0] for r in removed] == ["https://www.blocked-site.com/blocked/<EMAIL>"]
    assert "<PHONE_NUMBER>" in removed[0]["detail"]  # the URL filter's detail quotes the URL

    # the same run without pii: every planted value is found, each dropped page's in its stage's removed/
    out, report, _ = runs("unscrubbed")
    found = find(files_under(out) + [report], all_values(values), os.path.dirname(out))
    # (a page the reader drops, a 404 here, leaves its url in removed/read/, not its body)
    undecoded = [v for kind, p in values.items() for key, v in p.items() if not (kind == "missing" and "text" in key)]
    assert set(undecoded) <= set(found)
    for kind, stage in (("blocked", "url_filter"), ("french", "language"), ("short", "gopher_quality"),
                        ("missing", "read")):
        for key in ("query_email", "query_ip") + (() if kind == "missing" else ("text_email", "text_phone")):
            assert in_folder(found, values[kind][key], "removed", stage), (kind, key)
    assert in_folder(found, values["dupa"]["text_email"], "removed", "minhash_dedup")  # the copies share it
    assert any(w == "report.html" for w in found[values["short"]["text_email"]])


def test_raw_text_keeps_pii_in_removed_and_inspect_not_in_documents_or_report(warcs, runs):
    _, values = warcs
    out, report, _ = runs("raw")
    root = os.path.dirname(out)
    found = find(files_under(os.path.join(out, "removed")) + files_under(os.path.join(out, "inspect")),
                 all_values(values), root)
    for kind, stage in (("blocked", "url_filter"), ("french", "language"), ("short", "gopher_quality")):
        for key, value in values[kind].items():  # in the text, the url (raw, percent-encoded) or the detail
            assert in_folder(found, value, "removed", stage), (kind, key)
    for stage in ("read", "extract", "pii"):
        assert in_folder(found, values["keptone"]["text_email"], "inspect", stage), stage
    # what the run curates, and the report made to be shared, stay scrubbed
    assert find(files_under(os.path.join(out, "documents")) + [report], all_values(values), root) == {}


def test_work_filtered_deleted_once_the_run_is_done_kept_with_keep_work(warcs, runs):
    files, _ = warcs
    out, _, cfg = runs("scrubbed")
    assert not os.path.exists(os.path.join(out, "work", "filtered"))
    assert files_under(os.path.join(out, "dedup_index", "minhash", "sigs"))  # the signatures (no text) stay
    assert refinery("verify", out).returncode == 0

    # a rerun of the finished run (keep_work and raw_text switched on too: same run) redoes nothing
    documents = {p: os.stat(p).st_mtime_ns for p in files_under(os.path.join(out, "documents"))}
    with open(cfg) as f:
        changed = yaml.safe_load(f)
    changed["output"].update(keep_work=True, raw_text=True)
    changed_path = cfg.replace(".yaml", "-changed.yaml")
    with open(changed_path, "w") as f:
        yaml.safe_dump(changed, f)
    for path in (cfg, changed_path):
        refinery("run", path, "--input", *files, "--output", out)
        assert {p: os.stat(p).st_mtime_ns for p in files_under(os.path.join(out, "documents"))} == documents
        assert not os.path.exists(os.path.join(out, "work", "filtered"))

    raw, _, _ = runs("raw")
    kept = sorted(os.listdir(os.path.join(raw, "work", "filtered")))
    assert kept == ["00000.parquet", "00001.parquet"]


def test_output_switches_are_checked(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"output": {"raw_text": "yes", "keep_work": 1}, "stages": {"read": {}}}))
    proc = refinery("run", str(path), "--output", str(tmp_path / "run"), check=False)
    assert proc.returncode == 2
    assert "output.raw_text: must be true or false, got 'yes'" in proc.stderr
    assert "output.keep_work: must be true or false, got 1" in proc.stderr


def test_url_pii_is_replaced_in_path_query_and_fragment_host_kept():
    pii = PIIStage()
    url = ("https://93.184.216.34:8080/u/jane.doe@example.com/415-555-2671?e=jane%40example.com&q=a+b"
           "&tel=%2B44%2020%207946%200958#jane.doe@example.com")
    assert pii.scrub_url(url) == ("https://93.184.216.34:8080/u/<EMAIL>/<PHONE_NUMBER>?e=<EMAIL>&q=a+b"
                                  "&tel=<PHONE_NUMBER>#<EMAIL>")
    # characters that were encoded stay encoded around a placeholder
    assert pii.scrub_url("https://x.org/?e=jane%40example.com%26next%3D1") == "https://x.org/?e=<EMAIL>%26next%3D1"
    for clean in ("https://x.org/a/b?", "https://x.org/2019/05/post.html?id=12&page=3#top", "https://x.org/a%20b"):
        assert pii.scrub_url(clean) == clean
    # the stage's switches apply: with IPs off, an IP stays
    assert PIIStage(ips=False).scrub_url("https://x.org/?ip=93.184.216.34") == "https://x.org/?ip=93.184.216.34"


@pytest.mark.parametrize("prefix, each", [(495, 1), (10, 200)])
def test_head_of_scrubbed_text_is_the_scrubbed_text_cut(prefix, each):
    """The first characters kept in removed/ and inspect/ are those of the scrubbed text: an address across the
    cut is replaced whole, not left half, even when many replacements shorten the text before it."""
    pii = PIIStage()
    text = "x" * prefix + " jane.doe@example.com" * each + " plain words" * 500 + " bob.smith@example.org tail"
    for chars in (500, 503, 2000):
        assert scrubbed_head(text, chars, pii) == pii.scrub(text)[0][:chars]
    assert "jane" not in scrubbed_head(text, 500, pii)
