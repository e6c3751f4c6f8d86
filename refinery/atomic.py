"""Atomic output: rows go to a hidden temporary file that is renamed into place only when complete, so a reader
(or a glob for *.parquet) never sees a partial file, and a failed or killed writer leaves nothing behind that a
rerun could mistake for its output. A writer that fails removes its temporary file on every path; one that was
killed leaves `.NAME.tmp-PID`, which the next run of the folder sweeps (pipeline/run.py) before it starts.

A full disk (or quota) is reported as DiskFull, naming the file that could not be written, so the command can
end with one line instead of a traceback from deep inside pyarrow."""

import contextlib
import errno
import os
import re

import pyarrow as pa
import pyarrow.parquet as pq

TEMP_NAME = re.compile(r"^\..+\.tmp-\d+$")  # what temp_path_for makes: the sweep removes only these names


class DiskFull(RuntimeError):
    """No space (or quota) left while writing one of refinery's files. A plain message, so it survives being
    pickled back from a worker process."""


def is_disk_full(e: BaseException) -> bool:
    if isinstance(e, DiskFull):
        return True
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    # pyarrow's IO errors carry the errno only in their text
    text = str(e)
    return isinstance(e, OSError) and ("No space left on device" in text or "Disk quota exceeded" in text)


def disk_full_error(path: str, what: str) -> DiskFull:
    folder = os.path.dirname(os.path.abspath(path))
    return DiskFull(f"disk full: could not write {what} {path} (no space left in {folder}); free space and rerun "
                    f"the same command to resume")


def temp_path_for(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.tmp-{os.getpid()}")


def _remove_quietly(path: str):
    with contextlib.suppress(OSError):
        os.remove(path)


@contextlib.contextmanager
def atomic_path(path: str, what: str = "file"):
    """Yields a temporary path to write; renamed to `path` when the block ends without error, removed otherwise."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = temp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        _remove_quietly(tmp)
        if is_disk_full(e) and not isinstance(e, DiskFull):
            raise disk_full_error(path, what) from e
        raise


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
        try:
            self._writer = pq.ParquetWriter(self._tmp, self.schema, compression="zstd")
        except BaseException as e:
            self._fail(e)
        return self

    def write(self, row: dict):
        self._rows.append(row)
        if len(self._rows) >= self.row_group_rows:
            self._guarded(self._flush)

    def write_table(self, table: pa.Table):
        def write():
            self._flush()
            self._writer.write_table(table.cast(self.schema), row_group_size=self.row_group_rows)
            self.rows_written += table.num_rows

        self._guarded(write)

    def _flush(self):
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self.schema))
            self.rows_written += len(self._rows)
            self._rows = []

    def _guarded(self, fn):
        try:
            fn()
        except OSError as e:
            if is_disk_full(e):
                raise disk_full_error(self.path, "Parquet file") from e
            raise

    def _cleanup(self):
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        _remove_quietly(self._tmp)

    def _fail(self, e: BaseException):
        """Removes the temporary file and re-raises (a full disk as DiskFull)."""
        self._cleanup()
        if is_disk_full(e) and not isinstance(e, DiskFull):
            raise disk_full_error(self.path, "Parquet file") from e
        raise e

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self._flush()
                self._writer.close()
                self._writer = None
                os.replace(self._tmp, self.path)
            except BaseException as e:
                self._fail(e)
            return False
        self._cleanup()
        if exc is not None and is_disk_full(exc) and not isinstance(exc, DiskFull):
            raise disk_full_error(self.path, "Parquet file") from exc
        return False


def write_json_atomic(path: str, obj):
    import json

    with atomic_path(path, "JSON file") as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=1)


def write_table_atomic(path: str, table: pa.Table):
    with AtomicParquetWriter(path, table.schema) as w:
        w.write_table(table)
