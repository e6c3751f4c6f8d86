"""Atomic Parquet output: rows go to a hidden temporary file that is renamed into place only when complete,
so a reader (or a glob for *.parquet) never sees a partial file, and a killed task leaves nothing behind
that a rerun could mistake for its output."""

import os

import pyarrow as pa
import pyarrow.parquet as pq


def temp_path_for(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.tmp-{os.getpid()}")


class AtomicParquetWriter:
    def __init__(self, path: str, schema: pa.Schema, row_group_rows: int = 2000, metadata: dict | None = None):
        self.path = path
        self.schema = schema.with_metadata(metadata) if metadata else schema
        self.row_group_rows = row_group_rows
        self._rows: list[dict] = []
        self._writer: pq.ParquetWriter | None = None
        self._tmp = temp_path_for(path)
        self.rows_written = 0

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        self._writer = pq.ParquetWriter(self._tmp, self.schema, compression="zstd")
        return self

    def write(self, row: dict):
        self._rows.append(row)
        if len(self._rows) >= self.row_group_rows:
            self._flush()

    def write_table(self, table: pa.Table):
        self._flush()
        self._writer.write_table(table.cast(self.schema), row_group_size=self.row_group_rows)
        self.rows_written += table.num_rows

    def _flush(self):
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self.schema))
            self.rows_written += len(self._rows)
            self._rows = []

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self._flush()
            self._writer.close()
            os.replace(self._tmp, self.path)
        else:
            self._writer.close()
            if os.path.exists(self._tmp):
                os.remove(self._tmp)
        return False


def write_json_atomic(path: str, obj):
    import json

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = temp_path_for(path)
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def write_table_atomic(path: str, table: pa.Table):
    with AtomicParquetWriter(path, table.schema) as w:
        w.write_table(table)
