"""Documents in and out of Parquet: the curated output (`documents/`) and the intermediate files that carry
documents from the curation phase to the dedup-filter phase (`work/filtered/`), deleted once the run is done
with them (DeleteDocuments)."""

import contextlib
import glob
import json
import os

import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from refinery.atomic import AtomicParquetWriter
from refinery.schema import document_schema, metadata_columns

ROW_KEY = "_row"  # a document's position in its task's file, set by DocumentReader (the dedup stage matches on it)


def task_file(folder: str, rank: int) -> str:
    return os.path.join(folder, f"{rank:05d}.parquet")


def doc_to_row(doc: Document, columns: tuple[str, ...] = metadata_columns(document_schema())) -> dict:
    row = {"text": doc.text, "id": doc.id}
    extra = {}
    for key, value in doc.metadata.items():
        if key in columns:
            row[key] = value
        elif not key.startswith("_"):
            extra[key] = value
    row["metadata"] = json.dumps(extra, sort_keys=True, ensure_ascii=False, default=str)
    return row


def row_to_doc(row: dict) -> Document:
    metadata = {k: v for k, v in row.items() if k not in ("text", "id", "metadata") and v is not None}
    metadata.update(json.loads(row["metadata"] or "{}"))
    return Document(text=row["text"], id=row["id"], metadata=metadata)


class DocumentWriter(PipelineStep):
    """Writes each task's documents to FOLDER/<task>.parquet (atomically: complete or absent)."""

    type = "refinery-io"
    name = "write_documents"

    def __init__(self, folder: str, row_group_rows: int = 1000, fields: tuple = ()):
        super().__init__()
        self.folder = folder
        self.row_group_rows = row_group_rows
        self.schema = document_schema(fields)
        self.columns = metadata_columns(self.schema)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with AtomicParquetWriter(task_file(self.folder, rank), self.schema, self.row_group_rows) as out:
            for doc in data:
                with self.track_time():
                    out.write(doc_to_row(doc, self.columns))
                self.stat_update("documents")
                yield doc


class DocumentReader(PipelineStep):
    """Reads back FOLDER/<task>.parquet, numbering the rows (MinHash removal lists refer to them)."""

    type = "refinery-io"
    name = "read_documents"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        row = 0
        for batch in pq.ParquetFile(task_file(self.folder, rank)).iter_batches(batch_size=1000):
            for record in batch.to_pylist():
                doc = row_to_doc(record)
                doc.metadata[ROW_KEY] = row
                row += 1
                yield doc


class DeleteDocuments(PipelineStep):
    """Deletes the task files DocumentWriter wrote to FOLDER (and FOLDER and its parent when that leaves them
    empty): the unscrubbed texts between phases, once every task that reads them has completed."""

    type = "refinery-io"
    name = "delete_documents"

    def __init__(self, folder: str, tasks: int):
        super().__init__()
        self.folder = folder
        self.tasks = tasks

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for task in range(self.tasks):
            with contextlib.suppress(FileNotFoundError):  # deleted by an earlier, interrupted try
                os.remove(task_file(self.folder, task))
                self.stat_update("deleted_files")
        for folder in (self.folder, os.path.dirname(self.folder)):
            with contextlib.suppress(OSError):  # gone already, or holding files refinery did not write
                os.rmdir(folder)


def read_documents(folder: str) -> list[dict]:
    """All rows of a documents folder, in task order (for tools and tests)."""
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, "*.parquet"))):
        rows.extend(pq.read_table(path).to_pylist())
    return rows
