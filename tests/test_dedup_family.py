"""The dedup family through the `refinery` command, on planted pages: exact_dedup (copies across tasks, the
smallest id kept), url_dedup (every normalisation rule), MinHash keepers chosen among the documents still alive
with `minhash_cluster_size` on every kept document, cross-run dedup (`against:`) and its refusal, decontaminate
in a run; the accounting invariant (`refinery verify`) and the same result with one task or two."""

import glob
import json
import os
import random

import pyarrow.parquet as pq
import pytest
import yaml

from conftest import article_html, refinery, stats_json, write_warc
from pipeline.sample_data import TOPICS, _article, _mutate
from stages.documents import read_documents
from stages.url_dedup import normalise_url

CANONICAL = "https://example.org/news/story?a=1&b=2"
# each a spelling of CANONICAL under one rule: all reduced to one document
SAME_URL = {
    "scheme http vs https": "http://example.org/news/story?a=1&b=2",
    "host case": "https://Example.ORG/news/story?a=1&b=2",
    "www.": "https://www.example.org/news/story?a=1&b=2",
    "default port": "https://example.org:443/news/story?a=1&b=2",
    "trailing slash": "https://example.org/news/story/?a=1&b=2",
    "fragment": "https://example.org/news/story?a=1&b=2#comments",
    "query order": "https://example.org/news/story?b=2&a=1",
    "tracking parameters": "https://example.org/news/story?a=1&utm_source=feed&b=2&fbclid=XYZ",
}
# not the same page: kept apart
OTHER_URL = {
    "path case": "https://example.org/News/story?a=1&b=2",
    "other port": "https://example.org:8080/news/story?a=1&b=2",
    "other query value": "https://example.org/news/story?a=1&b=3",
}

# HellaSwag-style items: a context and its endings
EVAL_ITEMS = [
    {"ctx": "A man is sitting on a roof. He starts pulling up roofing on a roof, then he",
     "endings": ["is using wrap to wrap a pair of skis that are lying on the wet roof of the house.",
                 "starts to hammer the new shingles down one by one with a small silver hammer while whistling loudly."]},
    {"ctx": "A woman stands in the kitchen holding a large bowl of flour and sugar and carefully she",
     "endings": ["pours the mixture into a greased pan and slides it into the hot oven to bake for an hour.",
                 "walks away from the counter."]},
]
QUOTED = EVAL_ITEMS[0]["endings"][1]  # 18 words: a page quoting it whole is contaminated
COMMON = "at the end of the day it was"  # an 8-word phrase the eval items share with ordinary prose (below)
EVAL_ITEMS[1]["endings"][1] = "and at the end of the day it was time to walk away from the counter again."


def _id(name: str) -> str:
    return f"<urn:test:{name}>"


class Pages:
    """Distinct English articles, each a list of paragraphs."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.n = 0

    def article(self) -> list[str]:
        topic = sorted(TOPICS)[self.n % len(TOPICS)]
        self.n += 1
        return _article(self.rng, topic)[1]


def _record(name, url, paragraphs, date="2024-01-01T00:00:00Z"):
    return {"id": _id(name), "url": url, "body": article_html(paragraphs, "A story"), "date": date}


def _config(folder, tasks=2, workers=2, **stages) -> str:
    cfg = {"executor": {"tasks": tasks, "workers": workers}, "output": {"inspect_rate": 1.0},
           "stages": {"read": {}, "extract": {}, "language": {}, "gopher_quality": {}, **stages, "pii": {}}}
    path = os.path.join(folder, f"config-{len(os.listdir(folder))}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


def _removed(run_dir: str, stage: str) -> dict:
    rows = {}
    for path in glob.glob(os.path.join(run_dir, "removed", stage, "*.parquet")):
        rows.update({r["id"]: r for r in pq.read_table(path).to_pylist()})
    return rows


def _documents(run_dir: str) -> dict:
    return {d["id"]: d for d in read_documents(os.path.join(run_dir, "documents"))}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Two WARCs (two tasks) with every planted case, and the eval set."""
    base = tmp_path_factory.mktemp("family")
    pages = Pages(5)
    a, b = [], []
    # exact copies under different URLs in different tasks, one with other whitespace: <e1> (the smallest) kept
    text = pages.article()
    a.append(_record("e3", "https://copies-a.org/1", text))
    b.append(_record("e1", "https://copies-b.org/1", text))
    a.append(_record("e2", "https://copies-c.org/1", [p.replace(" ", "  ") for p in text]))
    # URL variants: the http:// spelling was crawled last and is kept
    for i, (rule, url) in enumerate(sorted(SAME_URL.items())):
        date = "2024-03-01T00:00:00Z" if rule == "scheme http vs https" else f"2024-01-{i + 1:02d}T00:00:00Z"
        (a if i % 2 else b).append(_record(f"u{i}", url, pages.article(), date))
    (a).append(_record("u9", CANONICAL, pages.article(), "2024-02-01T00:00:00Z"))
    for i, url in enumerate(OTHER_URL.values()):
        b.append(_record(f"v{i}", url, pages.article()))
    # a 4-document near-duplicate cluster plus an exact copy; its smallest id <n0> shares its URL with a page
    # crawled later, so url_dedup removes it and MinHash must keep <n1>, the smallest still alive
    text = pages.article()
    rng = random.Random(1)
    members = [text] + [_mutate(text, rng, 0.02) for _ in range(3)]
    a.append(_record("n0", "https://cluster.org/shared", members[0], "2024-01-01T00:00:00Z"))
    b.append(_record("n9", "https://cluster.org/shared", pages.article(), "2024-06-01T00:00:00Z"))
    b.append(_record("n1", "https://cluster.org/1", members[1]))
    a.append(_record("n2", "https://cluster.org/2", members[2]))
    b.append(_record("n3", "https://cluster.org/3", members[3]))
    a.append(_record("n4", "https://cluster-copy.org/3", members[3]))  # exact copy of <n3>
    # decontamination: one page quotes an eval item whole, one shares only the common 8-word phrase
    quoting = pages.article()
    quoting[1] = quoting[1] + " Then he " + QUOTED
    a.append(_record("d1", "https://quotes.org/1", quoting))
    sharing = pages.article()
    sharing[1] = sharing[1] + f" Everyone agreed that {COMMON} a good meeting."
    b.append(_record("d2", "https://quotes.org/2", sharing))
    for i in range(4):  # unrelated pages
        (a if i % 2 else b).append(_record(f"w{i}", f"https://plain.org/{i}", pages.article()))
    inputs = [write_warc(str(base / "a.warc.gz"), a), write_warc(str(base / "b.warc.gz"), b)]
    eval_set = str(base / "hellaswag_mini.jsonl")
    with open(eval_set, "w") as f:
        f.writelines(json.dumps(item) + "\n" for item in EVAL_ITEMS)
    return base, inputs, eval_set


@pytest.fixture(scope="module")
def family_run(planted):
    base, inputs, eval_set = planted
    out = str(base / "run")
    stages = {"url_dedup": {}, "exact_dedup": {}, "minhash_dedup": {},
              "decontaminate": {"eval_sets": [eval_set], "fields": ["ctx", "endings"]}}
    refinery("run", _config(str(base), **stages), "--input", *inputs, "--output", out)
    return out, stages


def test_url_rules():
    assert normalise_url(CANONICAL) == "example.org/news/story?a=1&b=2"
    for rule, url in SAME_URL.items():
        assert normalise_url(url) == normalise_url(CANONICAL), rule
    for rule, url in OTHER_URL.items():
        assert normalise_url(url) != normalise_url(CANONICAL), rule
    assert normalise_url("https://example.org") == normalise_url("http://example.org/") == "example.org/"
    assert normalise_url("HTTPS://Example.ORG/news/story?a=1&b=2") == normalise_url(CANONICAL)  # scheme case
    assert normalise_url("") is None


def test_family_run(family_run):
    out, _ = family_run
    verify = refinery("verify", out)
    assert "is consistent" in verify.stdout, verify.stdout
    docs = _documents(out)
    ids = set(docs)
    # exact copies: the smallest id kept, the others removed as exact_duplicate naming it
    exact = _removed(out, "exact_dedup")
    assert _id("e1") in ids and _id("e2") not in ids and _id("e3") not in ids
    assert exact[_id("e3")]["reason"] == exact[_id("e2")]["reason"] == "exact_duplicate"
    assert exact[_id("e3")]["detail"] == f"same text as {_id('e1')}"
    # URL variants: one document, the latest crawl
    url = _removed(out, "url_dedup")
    variants = {_id(f"u{i}") for i in range(len(SAME_URL))} | {_id("u9")}
    kept_variant = sorted(SAME_URL).index("scheme http vs https")
    assert variants & ids == {_id(f"u{kept_variant}")}
    assert {url[i]["reason"] for i in variants - ids} == {"duplicate_url"}
    assert {_id(f"v{i}") for i in range(len(OTHER_URL))} <= ids
    # the cluster: <n0> went to url_dedup, <n4> (an exact copy of <n3>) to exact_dedup, <n1> is MinHash's keeper
    assert url[_id("n0")]["reason"] == "duplicate_url" and _id("n9") in ids
    assert exact[_id("n4")]["detail"] == f"same text as {_id('n3')}"
    minhash = _removed(out, "minhash_dedup")
    assert _id("n1") in ids and {_id("n2"), _id("n3")} <= set(minhash) and _id("n0") not in minhash
    assert {minhash[_id(n)]["detail"] for n in ("n2", "n3")} == {f"kept {_id('n1')}"}
    # every member counts, those removed before MinHash included
    assert docs[_id("n1")]["minhash_cluster_size"] == 5
    assert docs[_id("e1")]["minhash_cluster_size"] == 3  # its two exact copies
    assert {docs[i]["minhash_cluster_size"] for i in ids - {_id("n1"), _id("e1")}} == {1}
    # decontamination: the quoting page dropped naming the eval set and an n-gram, the common phrase kept
    contaminated = _removed(out, "decontaminate")
    assert set(contaminated) == {_id("d1")} and _id("d2") in ids
    assert contaminated[_id("d1")]["detail"].startswith('hellaswag_mini: "')
    assert contaminated[_id("d1")]["detail"].split('"')[1] in QUOTED.lower().replace(".", "")
    stages = {s["name"]: s for s in stats_json(out)["stages"]}
    assert stages["decontaminate"]["extra"] == {"contaminated/hellaswag_mini": 1}
    funnel = refinery("stats", out).stdout
    assert "documents matching eval set hellaswag_mini: 1" in funnel
    # the report: the cluster-size distribution (one kept document per cluster) and the contaminated count
    from pipeline.report import report_data

    data = report_data(out)
    assert data["clusters"] == {1: len(ids) - 2, 3: 1, 5: 1}
    by_name = {s["name"]: s for s in data["stages"]}
    assert by_name["decontaminate"]["extra"] == {"contaminated/hellaswag_mini": 1}
    # what a later run needs is kept by cleanup, outside work/
    assert not os.path.exists(os.path.join(out, "work", "filtered"))
    assert glob.glob(os.path.join(out, "dedup_index", "minhash", "sigs", "*", "*.parquet"))
    assert glob.glob(os.path.join(out, "dedup_index", "exact", "*.parquet"))


def test_same_result_with_one_task(family_run, planted):
    out, stages = family_run
    base, inputs, _ = planted
    one = str(base / "one")
    refinery("run", _config(str(base), tasks=1, workers=1, **stages), "--input", *inputs, "--output", one)
    assert _documents(one) == _documents(out)
    a = [(s["name"], s["in"], s["kept"], s["dropped"]) for s in stats_json(out)["stages"]]
    b = [(s["name"], s["in"], s["kept"], s["dropped"]) for s in stats_json(one)["stages"]]
    assert a == b
    for stage in ("url_dedup", "exact_dedup", "minhash_dedup", "decontaminate"):
        assert _removed(one, stage) == _removed(out, stage), stage


def test_cross_run(family_run, planted):
    earlier, _ = family_run
    base, _, _ = planted
    kept_a = _documents(earlier)
    pages = Pages(99)
    records, new = [], []
    for i, (doc_id, doc) in enumerate(sorted(kept_a.items())[:6]):
        paragraphs = doc["text"].split("\n")[1:]  # the title comes back from article_html
        if i % 2:  # an exact copy under another URL
            records.append(_record(f"b-copy{i}", f"https://mirror.org/{i}", paragraphs))
        else:  # a near copy
            records.append(_record(f"b-near{i}", f"https://mirror.org/{i}", _mutate(paragraphs, random.Random(i), 0.02)))
    for i in range(4):
        new.append(_id(f"b-new{i}"))
        records.append(_record(f"b-new{i}", f"https://fresh.org/{i}", pages.article()))
    warc = write_warc(str(base / "b-run.warc.gz"), records)
    out = str(base / "run-b")
    stages = {"exact_dedup": {"against": [earlier]}, "minhash_dedup": {"against": [earlier]}}
    refinery("run", _config(str(base), **stages), "--input", warc, "--output", out)
    refinery("verify", out)
    assert set(_documents(out)) == set(new)
    removed = {**_removed(out, "exact_dedup"), **_removed(out, "minhash_dedup")}
    assert len(removed) == 6
    assert {r["reason"] for r in removed.values()} == {"duplicate"}
    assert all(f"of earlier run {earlier}" in r["detail"] for r in removed.values())
    # exact copies go at exact_dedup (earlier hashes), near copies at MinHash (earlier signatures)
    assert {i for i, r in removed.items() if "copy" in i} <= set(_removed(out, "exact_dedup"))
    assert {i for i in removed if "near" in i} <= set(_removed(out, "minhash_dedup"))
    # an earlier run with other MinHash parameters is refused before any work
    other = {"minhash_dedup": {"against": [earlier], "bands": 7, "rows": 16}}
    proc = refinery("run", _config(str(base), **other), "--input", warc, "--output", str(base / "run-c"), check=False)
    assert proc.returncode != 0
    assert "other parameters" in proc.stderr and "bands 14 there, 7 here" in proc.stderr
    assert not os.path.exists(os.path.join(str(base / "run-c"), "documents"))
    # and so is a run naming its own folder (here a finished run, left as it was)
    with open(os.path.join(out, "run.json")) as f:
        marker = f.read()
    proc = refinery("run", _config(str(base), exact_dedup={"against": [out]}), "--input", warc, "--output", out,
                    check=False)
    assert proc.returncode == 2 and "this run's own folder" in proc.stderr
    with open(os.path.join(out, "run.json")) as f:
        assert f.read() == marker


def _key_dedup(stage_cls, tasks_docs, tmp):
    """The three phases of a key stage run directly on documents, as the pipeline runs them."""
    from stages.base import StageOutput
    from stages.documents import ROW_KEY
    from stages.exact_dedup import text_key
    from stages.key_dedup import KeyFiles, KeyMergeStep, KeyStep
    from stages.url_dedup import url_key

    files = KeyFiles(os.path.join(tmp, "keys"), tmp)
    key_of = {"url_dedup": url_key, "exact_dedup": text_key}[stage_cls.name]
    for rank, docs in enumerate(tasks_docs):
        list(KeyStep(stage_cls.name, files, key_of, with_date=True).run(iter(docs), rank, len(tasks_docs)))
    order = [("doc_id", "ascending"), ("task", "ascending"), ("index", "ascending")]
    if stage_cls.name == "url_dedup":
        order = [("date", "descending")] + order
    list(KeyMergeStep(stage_cls.name, files, len(tasks_docs), stage_cls.reasons[0], "same as", order).run(None))
    kept = []
    for rank, docs in enumerate(tasks_docs):
        for i, d in enumerate(docs):
            d.metadata[ROW_KEY] = i
        kept += [d.id for d in stage_cls(files, output=StageOutput()).run(iter(docs), rank, len(tasks_docs))]
    return sorted(kept)


def test_url_keeper_latest_crawl_then_smallest_id(tmp_path):
    from datatrove.data import Document

    from stages.url_dedup import URLDedupStage

    def doc(i, url, date):
        return Document(text="x", id=i, metadata={"url": url, "date": date})

    tasks = [[doc("<b>", "https://a.org/p", "2024-05-01T00:00:00Z"), doc("<z>", "http://a.org/p/", "")],
             [doc("<a>", "https://www.a.org/p#x", "2024-05-01T00:00:00Z"), doc("<c>", "https://a.org/p", "2024-01-01T00:00:00Z"),
              doc("<n>", "", "2024-01-01T00:00:00Z"), doc("<m>", "", "2024-01-01T00:00:00Z")]]
    # the two latest crawls tie: the smallest id of them; a document without a date never wins; no URL: kept
    assert _key_dedup(URLDedupStage, tasks, str(tmp_path / "two")) == ["<a>", "<m>", "<n>"]
    one = [[d for t in tasks for d in t][::-1]]
    assert _key_dedup(URLDedupStage, one, str(tmp_path / "one")) == ["<a>", "<m>", "<n>"]



def test_key_merge_of_more_files_than_read_at_once(tmp_path, monkeypatch):
    """A task per input file: past MAX_MERGE_FILES key files the merge first merges groups of them into scratch
    files (forced here with groups of 2 over 6 tasks): the same keepers, and no scratch file left."""
    from datatrove.data import Document

    import stages.minhash_dedup
    from stages.url_dedup import URLDedupStage

    def doc(i, url, date):
        return Document(text="x", id=i, metadata={"url": url, "date": date})

    docs = [doc("<b>", "https://a.org/p", "2024-05-01T00:00:00Z"), doc("<z>", "http://a.org/p/", ""),
            doc("<a>", "https://www.a.org/p#x", "2024-05-01T00:00:00Z"), doc("<c>", "https://a.org/p", "2024-01-01T00:00:00Z"),
            doc("<d>", "https://b.org/", ""), doc("<e>", "http://b.org", "2023-01-01T00:00:00Z")]
    monkeypatch.setattr(stages.minhash_dedup, "MAX_MERGE_FILES", 2)
    monkeypatch.setattr(stages.minhash_dedup, "_MERGE_ROWS", 1)  # merges of merges read a row at a time
    monkeypatch.setattr(stages.minhash_dedup, "_MIN_BATCH_ROWS", 1)
    assert _key_dedup(URLDedupStage, [[d] for d in docs], str(tmp_path / "six")) == ["<a>", "<e>"]
    assert not [n for _, dirs, names in os.walk(tmp_path / "six") for n in dirs + names if ".tmp-" in n]


def test_exact_normalisation():
    from datatrove.data import Document

    from stages.exact_dedup import normalise_text, text_key

    assert normalise_text("  Caf\u0065\u0301 opens\n\n at  9.\t") == "Caf\u00e9 opens at 9."  # NFC, whitespace
    same = [Document(text=t, id=str(i)) for i, t in enumerate(["A b.", " A  b. ", "A\nb."])]
    assert len({text_key(d) for d in same}) == 1
    different = [Document(text=t, id=str(i)) for i, t in enumerate(["A b.", "a b.", "A b", "A c."])]
    assert len({text_key(d) for d in different}) == 4  # case, punctuation and every other character count
