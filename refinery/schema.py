"""Parquet schemas of everything refinery writes, defined once."""

import pyarrow as pa

# curated documents (DIR/documents/*.parquet) and the intermediate documents between phases (DIR/work/filtered/).
# Where a per-document value goes: a value every user filters or groups by gets a typed, nullable top-level column
# that is always present (null where its stage did not run), declared by its stage (`fields` in stages/registry.py)
# and placed after these; anything else a stage records (metrics, PII counts ...) goes into `metadata` as JSON.
_BASE_COLUMNS = [
    ("text", pa.string()),
    ("id", pa.string()),
    ("url", pa.string()),
    ("dump", pa.string()),
    ("date", pa.string()),
    ("language", pa.string()),
    ("language_score", pa.float64()),
]
_METADATA = ("metadata", pa.string())


def document_schema(fields: tuple = ()) -> pa.Schema:
    """The documents/ schema with the registered stages' per-document fields ((name, pyarrow type) pairs)."""
    taken = {name for name, _ in _BASE_COLUMNS} | {_METADATA[0]}
    for name, _ in fields:
        if name in taken:
            raise ValueError(f"per-document field {name!r} is already a column of documents/")
        taken.add(name)
    return pa.schema(_BASE_COLUMNS + list(fields) + [_METADATA])


def metadata_columns(schema: pa.Schema) -> tuple[str, ...]:
    """The columns that hold a document's metadata keys of the same name (all but text, id and metadata)."""
    return tuple(n for n in schema.names if n not in ("text", "id", "metadata"))


DOCUMENT_SCHEMA = document_schema()

# one row per dropped document (DIR/removed/<stage>/*.parquet)
REMOVED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("reason", pa.string()),
        ("value", pa.float64()),  # the metric value that decided the drop, where there is one
        ("detail", pa.string()),  # what the number cannot say: the language found, the kept duplicate ...
        ("text", pa.string()),  # first stages.removed_text_chars characters of the text when it was dropped
        ("language", pa.string()),  # the document's language, from the language stage on (null before it)
    ]
)

# MinHash band signatures (DIR/dedup_index/minhash/sigs/<band>/<task>.parquet, kept for later runs' `against:`),
# sorted by (band_hash, doc_id)
SIGNATURE_SCHEMA = pa.schema(
    [("band_hash", pa.uint64()), ("doc_id", pa.string()), ("task", pa.int32()), ("index", pa.int64())]
)

# duplicate edges found in one band (DIR/work/minhash/edges/<band>.parquet): b is a duplicate of a
EDGE_SCHEMA = pa.schema(
    [
        ("a_id", pa.string()),
        ("a_task", pa.int32()),
        ("a_index", pa.int64()),
        ("b_id", pa.string()),
        ("b_task", pa.int32()),
        ("b_index", pa.int64()),
    ]
)

# documents to drop, per origin task (DIR/work/minhash/remove/<task>.parquet), sorted by index
REMOVE_SCHEMA = pa.schema(
    [("index", pa.int64()), ("doc_id", pa.string()), ("kept_id", pa.string()), ("cluster_size", pa.int64())]
)


# cluster sizes of the keepers of MinHash clusters of two or more documents, per task
# (DIR/work/minhash/sizes/<task>.parquet), sorted by index
CLUSTER_SIZE_SCHEMA = pa.schema([("index", pa.int64()), ("doc_id", pa.string()), ("cluster_size", pa.int64())])

# exact_dedup's text hashes (DIR/dedup_index/exact/<task>.parquet, kept for later runs' `against:`) and url_dedup's
# URL hashes (DIR/work/keys/url/<task>.parquet), each sorted by key then document id; `date` (the crawl date) is
# set for URL keys only
KEY_SCHEMA = pa.schema(
    [("key", pa.uint64()), ("doc_id", pa.string()), ("task", pa.int32()), ("index", pa.int64()), ("date", pa.string())]
)

# documents url_dedup or exact_dedup drop, per origin task (DIR/work/keys/<stage>/remove/<task>.parquet)
KEY_REMOVE_SCHEMA = pa.schema(
    [("index", pa.int64()), ("doc_id", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
     ("group_size", pa.int64())]
)


# inspect/<stage>/<task>.parquet: a deterministic sample (by id hash, output.inspect_rate) of the documents
# that entered a stage, kept or not, with the metrics users tune thresholds by, measured on the text as it
# entered the stage; `refinery report` draws its distributions and kept examples from these rows
INSPECT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("outcome", pa.string()),  # "kept", or the drop reason
        ("metrics", pa.map_(pa.string(), pa.float64())),
        ("text", pa.string()),  # first output.inspect_text_chars characters
        ("bytes", pa.int64()),  # UTF-8 size of the whole text as it entered the stage (the what-if's kept bytes)
    ]
)
KEPT = "kept"


# token shards (DIR/shards/{train,val}/*.parquet): one row per document, EOS appended
def token_shard_schema(dtype: str, metadata: dict) -> pa.Schema:
    """dtype: "uint16" when the vocabulary fits, else "uint32"; metadata: tokenizer_sha256, vocab_size, eos_id,
    dtype (stored as schema metadata so a shard alone says how to read it)."""
    return pa.schema(
        [
            ("input_ids", pa.list_(pa.uint16() if dtype == "uint16" else pa.uint32())),
            ("doc_id", pa.string()),
            ("num_tokens", pa.int32()),  # len(input_ids), EOS included
        ],
        metadata={k: str(v) for k, v in metadata.items()},
    )


def token_spill_schema(dtype: str) -> pa.Schema:
    """The tokenize phase's rows of one task and split (DIR/work/tokens/<split>/<task>.parquet), sorted by key."""
    return pa.schema(
        [
            ("key", pa.uint64()),  # the row's place in the shards (stages/token_shards.py order_key)
            ("range", pa.int32()),  # which shards task writes it (the key's range)
            ("doc_id", pa.string()),
            ("language", pa.string()),
            ("input_ids", pa.list_(pa.uint16() if dtype == "uint16" else pa.uint32())),
            ("num_tokens", pa.int32()),
        ]
    )


SHARD_METADATA_KEYS = ("tokenizer_sha256", "vocab_size", "eos_id", "dtype")
