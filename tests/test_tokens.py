"""Tokenizer and token shards (issue 3, first half): tokenizer.json round-trips any UTF-8 text; shards carry
the schema metadata, EOS per document, a hash-decided split and a manifest whose totals match the rows."""

import json
import os

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.documents import read_documents
from stages.token_shards import is_val, write_token_shards
from refinery.layout import file_sha256
from stages.tokenizer import EOS, build_tokenizer


@pytest.fixture(scope="module")
def tokenizer_path(sample_run):
    run_dir = sample_run[0]
    return os.path.join(run_dir, "tokenizer", "tokenizer.json")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_decode_encode_roundtrip_any_text(tokenizer_path, text):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer_path)
    assert tok.decode(tok.encode(text, add_special_tokens=False).ids) == text


def test_tokenizer_loads_and_has_eos(tokenizer_path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer_path)
    assert tok.token_to_id(EOS) is not None and 1000 < tok.get_vocab_size() <= 2048


def test_tokenizer_loads_in_transformers(tokenizer_path):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(tokenizer_file=tokenizer_path, eos_token=EOS)
    text = "Héllo wörld — naïve café, 東京 🙂\n\tindented"
    ids = hf(text, add_special_tokens=False)["input_ids"]
    assert ids == Tokenizer.from_file(tokenizer_path).encode(text, add_special_tokens=False).ids
    assert hf.decode(ids) == text
    assert hf.eos_token_id == Tokenizer.from_file(tokenizer_path).token_to_id(EOS)


def test_shards_load_with_hf_datasets(sample_run, tmp_path):
    from datasets import load_dataset

    shards = os.path.join(sample_run[0], "shards")
    with open(os.path.join(shards, "manifest.json")) as f:
        manifest = json.load(f)
    files = {s: [os.path.join(shards, s, n) for n in manifest["splits"][s]["shards"]] for s in ("train", "val")}
    ds = load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf-cache"))
    for split in ("train", "val"):
        assert ds[split].num_rows == manifest["splits"][split]["rows"]
        assert sum(ds[split]["num_tokens"]) == manifest["splits"][split]["tokens"]
    first = ds["train"][0]
    assert first["input_ids"][-1] == manifest["eos_id"] and len(first["input_ids"]) == first["num_tokens"]


def test_shards_manifest_and_schema(sample_run):
    run_dir = sample_run[0]
    shards = os.path.join(run_dir, "shards")
    with open(os.path.join(shards, "manifest.json")) as f:
        manifest = json.load(f)
    assert set(manifest) == {"tokenizer_sha256", "vocab_size", "eos_id", "dtype", "splits"}
    assert manifest["tokenizer_sha256"] == file_sha256(os.path.join(run_dir, "tokenizer", "tokenizer.json"))
    assert manifest["dtype"] == "uint16"
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(run_dir, "tokenizer", "tokenizer.json"))
    docs = {d["id"]: d["text"] for d in read_documents(os.path.join(run_dir, "documents"))}
    seen = []
    for split in ("train", "val"):
        info = manifest["splits"][split]
        rows = tokens = 0
        for name in info["shards"]:
            table = pq.read_table(os.path.join(shards, split, name))
            meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
            assert meta["tokenizer_sha256"] == manifest["tokenizer_sha256"] and meta["dtype"] == "uint16"
            assert str(table.schema.field("input_ids").type.value_type) == "uint16"
            for r in table.to_pylist():
                assert r["input_ids"][-1] == manifest["eos_id"] and r["num_tokens"] == len(r["input_ids"])
                assert is_val(r["doc_id"], 0.05) == (split == "val")
                # the row is exactly the document's text encoded, plus EOS
                assert r["input_ids"][:-1] == tok.encode(docs[r["doc_id"]], add_special_tokens=False).ids
                seen.append(r["doc_id"])
                tokens += r["num_tokens"]
                rows += 1
        assert (rows, tokens) == (info["rows"], info["tokens"])
        for name in info["shards"]:  # row groups as configured (sample.yaml: 25 rows)
            meta = pq.ParquetFile(os.path.join(shards, split, name)).metadata
            assert all(meta.row_group(i).num_rows == 25 for i in range(meta.num_row_groups - 1))
    assert sorted(seen) == sorted(docs)  # every curated document exactly once, in exactly one split
    assert manifest["splits"]["val"]["rows"] > 0


def test_shards_are_deterministic_and_reuse_a_tokenizer(sample_run, tmp_path):
    run_dir = sample_run[0]
    tok = os.path.join(run_dir, "tokenizer", "tokenizer.json")
    copy = build_tokenizer([], str(tmp_path / "tok" / "tokenizer.json"), 0, 0, 0, existing=tok)
    a = write_token_shards(os.path.join(run_dir, "documents"), copy, str(tmp_path / "a"), 0.05, 7, 20000)
    b = write_token_shards(os.path.join(run_dir, "documents"), copy, str(tmp_path / "b"), 0.05, 7, 20000)
    assert a == b and len(a["splits"]["train"]["shards"]) > 1
    ta = pq.read_table(str(tmp_path / "a" / "train" / a["splits"]["train"]["shards"][0]))
    tb = pq.read_table(str(tmp_path / "b" / "train" / b["splits"]["train"]["shards"][0]))
    assert ta.equals(tb)


def test_a_bad_tokenizer_path_fails_before_any_work(tmp_path):
    from conftest import refinery, tiny_config

    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    out = tmp_path / "run"
    proc = refinery("run", tiny_config(tmp_path, tokenizer={"path": str(bad)}), "--output", str(out), check=False)
    assert proc.returncode == 2 and "stages.tokenizer" in proc.stderr and "nothing was run" in proc.stderr
    assert not (out / "documents").exists()
