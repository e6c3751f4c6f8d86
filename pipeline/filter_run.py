"""`refinery filter RUN --where EXPR --output RUN2`: a condition applied to a finished run's documents, without
reading or extracting anything again (e.g. a threshold on `quality_score` after an annotate run).

RUN2 is a run folder of its own: RUN's funnel (its per-task stats, removed/, inspect/, errors/) plus one last
stage `filter` whose drop reason is `where`, its own documents/ (RUN's task files with the rows that pass), and,
when RUN has token shards, shards made from RUN2's documents with RUN's tokenizer (copied, not retrained) and RUN's
shard settings. RUN2 is built in a hidden folder beside it and renamed into place when complete.
"""

import json
import os
import shutil
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.scan import file_batches, utf8_lengths
from pipeline.where import Where, numeric_fields
from refinery.atomic import TEMP_NAME, AtomicParquetWriter, temp_path_for, write_json_atomic
from refinery.layout import RunLayout
from refinery.schema import REMOVED_SCHEMA

STAGE, REASON = "filter", "where"


class FilterError(ValueError):
    pass


def _copy_tree(src: str, dst: str):
    """A copy of a folder of finished files (hard links where the file system allows)."""
    if not os.path.isdir(src):
        return

    def link_or_copy(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link_or_copy,
                    ignore=lambda folder, names: [n for n in names if TEMP_NAME.match(n)])


def _check_output(src: RunLayout, output: str):
    if os.path.lexists(output) and (not os.path.isdir(output) or os.listdir(output)):
        raise FilterError(f"--output {output} exists and is not an empty folder: choose a new one")
    a, b = os.path.realpath(src.root), os.path.realpath(output)
    if a == b or b.startswith(a + os.sep) or a.startswith(b + os.sep):
        raise FilterError(f"--output {output} overlaps the run {src.root}: choose a folder outside it")


def _stats_json(n_in: int, kept: int, kept_bytes: int, dropped: int, seconds: float) -> list:
    stats = {"in": {"total": n_in}, "kept": {"total": kept}, "kept_bytes": {"total": kept_bytes}}
    if dropped:
        stats[f"dropped/{REASON}"] = {"total": dropped}
    return [{"name": f"refinery: {STAGE}", "time_stats": {"total": seconds}, "stats": stats}]


def filter_run(source: str, expr: str, output: str) -> dict:
    from pipeline.run import read_marker
    from pipeline.stats import collect_stats

    src = RunLayout(source)
    marker = read_marker(src)
    if marker is None:
        raise FilterError(f"{source}: not a refinery run folder (no run.json)")
    files = src.document_files()
    stages = collect_stats(source)["stages"]
    if not files or not stages:
        raise FilterError(f"{source}: no documents/ or no stats: has the run finished?")
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    if rows != stages[-1]["kept"]:
        raise FilterError(f"{source}: documents/ holds {rows} rows but its last stage ({stages[-1]['name']}) kept "
                          f"{stages[-1]['kept']}: the run has not finished (or is damaged; `refinery verify`)")
    if any(s["name"] == STAGE for s in stages):
        previous = (marker.get("filter") or {})
        raise FilterError(f"{source} is itself a filtered run ({previous.get('where', '?')!r} on "
                          f"{previous.get('source', '?')}): filter that run with both conditions joined by `and`")
    schema = pq.read_schema(files[0])
    numeric = numeric_fields(schema)
    where = Where(expr, numeric, [n for n in schema.names if n not in numeric])
    _check_output(src, output)

    parent = os.path.dirname(os.path.abspath(output))
    os.makedirs(parent, exist_ok=True)
    tmp = temp_path_for(os.path.abspath(output))
    out = RunLayout(tmp)
    start = time.monotonic()
    try:
        os.makedirs(tmp)
        # the source funnel: per-task stats of every phase, what each stage removed and sampled, input errors
        for path in src.task_stats_files():
            rel = os.path.relpath(path, source)
            os.makedirs(os.path.dirname(out.path(rel)), exist_ok=True)
            shutil.copy2(path, out.path(rel))
        for folder in ("removed", "inspect", "errors"):
            _copy_tree(src.path(folder), out.path(folder))

        text_chars = (marker.get("config") or {}).get("removed_text_chars", 10000)
        n_in = kept = kept_bytes = 0
        for path in files:  # row group by row group: memory flat in the size of a task's file
            name = os.path.basename(path)
            source_file = pq.ParquetFile(path)
            with AtomicParquetWriter(os.path.join(out.documents, name), source_file.schema_arrow) as passed_out, \
                    AtomicParquetWriter(os.path.join(out.removed, STAGE, name), REMOVED_SCHEMA) as removed_out:
                for batch in file_batches(source_file, source_file.schema_arrow.names):
                    table = pa.Table.from_batches([batch])
                    mask = where.mask(table)
                    passed, failed = table.filter(mask), table.filter(pc.invert(mask))
                    passed_out.write_table(passed)
                    n_in += table.num_rows
                    kept += passed.num_rows
                    kept_bytes += int(utf8_lengths(passed.column("text").combine_chunks()).sum())
                    texts = failed.column("text").to_pylist()
                    removed_out.write_table(pa.table({
                        "id": failed.column("id"),
                        "url": failed.column("url"),
                        "reason": pa.array([REASON] * failed.num_rows, pa.string()),
                        "value": pa.array([None] * failed.num_rows, pa.float64()),
                        "detail": pa.array([expr] * failed.num_rows, pa.string()),
                        "text": pa.array([t if t is None or text_chars is None else t[:text_chars] for t in texts],
                                         pa.string()),
                    }, schema=REMOVED_SCHEMA))
        stats_path = os.path.join(out.logs(STAGE), "stats", "00000.json")
        write_json_atomic(stats_path, _stats_json(n_in, kept, kept_bytes, n_in - kept, time.monotonic() - start))

        shards = False
        if os.path.exists(src.tokenizer):
            os.makedirs(os.path.dirname(out.tokenizer), exist_ok=True)
            shutil.copy2(src.tokenizer, out.tokenizer)
            if os.path.exists(src.shards.manifest):
                from stages.token_shards import write_token_shards

                params = ((marker.get("config") or {}).get("stages") or {}).get("shards") or {}
                write_token_shards(out.documents, out.tokenizer, out.shards.root, **params)
                shards = True

        # run.json: the source's, with the filter in its settings (a `refinery run` of the source's config into
        # RUN2 is refused as a different run, not resumed over the filtered documents)
        identity = json.loads(json.dumps(marker.get("identity") or {}))
        identity.setdefault("settings", {})["filter"] = {"source": os.path.abspath(source), "where": expr}
        from pipeline.config import fingerprint

        write_json_atomic(out.marker, {**marker, "identity": identity, "fingerprint": fingerprint(identity),
                                       "filter": {"source": os.path.abspath(source), "where": expr}})
        if os.path.isdir(output):
            os.rmdir(output)  # checked empty above
        os.rename(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"in": n_in, "kept": kept, "dropped": n_in - kept, "shards": shards}
