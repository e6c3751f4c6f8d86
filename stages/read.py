"""Stage `read`: WARC/ARC records -> HTML documents, with every record accounted for.

datatrove's WarcReader skips records it cannot decode, or whose type it does not want, without a trace, and
stops a file at the first malformed member. This reader counts every record it parses (`in`), passes on HTTP
responses with an HTML payload, drops the rest with a named reason, and records files (or file tails) it
cannot read in `errors/<task>.json` so `refinery stats` can list them.
"""

import codecs
import gzip
import os
import re
from typing import Iterator

import fsspec
from datatrove.data import Document, DocumentsPipeline
from datatrove.utils.logging import logger

from stages.base import Drop, RefineryStage
from stages.parquet_io import write_json_atomic

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xhtml", "text/xhtml"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_CC_DUMP = re.compile(r"CC-MAIN-\d{4}-\d{2}")
_READ_CHUNK = 1 << 20


def _charset_from_content_type(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_html(payload: bytes, declared: str | None) -> tuple[str, str] | None:
    """Decode page bytes; returns (text, charset) or None when nothing decodes them.

    UTF-8 is tried first because bytes that decode as strict UTF-8 are almost never anything else, even when a
    page declares Latin-1; then the HTTP and <meta> declarations, then cchardet's guess. Single-byte codecs
    decode anything, so a wrong declaration of one is only trusted after UTF-8 has failed.
    """
    import cchardet

    meta = _META_CHARSET.search(payload[:4096])
    candidates = ["utf-8", _known_codec(declared), _known_codec(meta.group(1).decode("ascii", "ignore") if meta else None)]
    detected = cchardet.detect(payload[:65536]).get("encoding")
    candidates.append(_known_codec(detected))
    seen = set()
    for name in candidates:
        if not name or name in seen:
            continue
        seen.add(name)
        try:
            return payload.decode(name), name
        except (UnicodeDecodeError, LookupError):
            continue
    # mostly-UTF-8 pages with a few stray bytes (pasted Latin-1, cut multi-byte characters) are common and
    # worth keeping; anything with more damage than that is counted as undecodable
    text = payload.decode("utf-8", "replace")
    if text.count("\ufffd") <= max(1, len(payload) // 1000):
        return text, "utf-8+replace"
    return None


# control bytes other than whitespace are rare in text of any charset
_CONTROL_BYTES = bytes(b for b in range(32) if b < 9 or 13 < b)


def looks_binary(payload: bytes) -> bool:
    head = payload[:4096]
    if b"\x00" in head:
        return True
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls > len(head) * 0.05


def _header(headers, name: str) -> str | None:
    value = headers.get_header(name) if headers is not None else None
    return value.strip() if isinstance(value, str) else value


class WarcReadStage(RefineryStage):
    """Reads WARC (gzip per record or whole-file, or uncompressed) and ARC files from any fsspec path."""

    name = "read"

    def __init__(
        self,
        files: list[str],
        dump: str | None = None,
        max_record_bytes: int = 10_000_000,
        errors_dir: str | None = None,
        output=None,
    ):
        super().__init__(output)
        self.files = list(files)
        self.dump = dump
        self.max_record_bytes = max_record_bytes
        self.errors_dir = errors_dir

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        errors: list[dict] = []
        removed, inspect = self.writers(rank)
        with removed, inspect:
            for path in self.files[rank::world_size]:
                self.stat_update("files")
                for doc, verdict in self.read_file(path, errors):
                    self.count_in()
                    if self.account(doc, verdict, doc.text, removed, inspect):
                        yield doc
        if self.errors_dir:
            write_json_atomic(os.path.join(self.errors_dir, f"{rank:05d}.json"), errors)

    # -- files -------------------------------------------------------------------------------------------------
    def read_file(self, path: str, errors: list[dict]) -> Iterator[tuple[Document, Drop | None]]:
        from warcio.archiveiterator import ArchiveIterator

        state = {"records": 0, "dump": self.dump or _dump_from_path(path)}
        try:
            with fsspec.open(path, "rb") as f:
                yield from self._records(ArchiveIterator(f, arc2warc=False), path, state, skip=0)
            return
        except Exception as e:  # noqa: BLE001 - any failure of a file is recorded, never fatal
            first_error = e
        # a WARC gzipped as one stream instead of one member per record: warcio refuses to stream it after
        # the first record, but decompressing the whole stream and parsing that recovers every record
        if "non-chunked gzip" in str(first_error):
            done = state["records"]
            try:
                with fsspec.open(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as f:
                    yield from self._records(ArchiveIterator(f, arc2warc=False), path, state, skip=done)
                return
            except Exception as e:  # noqa: BLE001
                first_error = e
        message = f"{type(first_error).__name__}: {first_error}"
        logger.warning(f"[read] {path}: stopped after {state['records']} records: {message}")
        self.stat_update("file_errors")
        errors.append({"file": path, "error": message, "records_read": state["records"]})

    def _records(self, iterator, path: str, state: dict, skip: int):
        basename = os.path.basename(path)
        for i, record in enumerate(iterator):
            if i < skip:
                continue
            if i == 0 and getattr(record, "format", "warc").startswith("arc") and record.rec_type != "arc_header":
                # warcio reads any text line of five words as an ARC header; a real ARC starts with filedesc://
                raise ValueError("not a WARC or ARC file (no WARC header, no ARC filedesc record)")
            state["records"] = i + 1
            with self.track_time():
                doc, verdict = self._record_to_doc(record, basename, i, state)
            # only valid once the record was read: warcio skips to its end to answer
            doc.metadata["warc_offset"] = iterator.get_record_offset()
            yield doc, verdict

    # -- records -----------------------------------------------------------------------------------------------
    def _record_to_doc(self, record, basename: str, index: int, state: dict) -> tuple[Document, Drop | None]:
        rec_headers = record.rec_headers
        rec_type = record.rec_type
        if rec_type == "warcinfo":
            self._note_warcinfo(record, state)
        url = _header(rec_headers, "WARC-Target-URI") or _header(rec_headers, "uri") or ""
        url = url.strip("<>")
        record_id = _header(rec_headers, "WARC-Record-ID") or f"<urn:refinery:{basename}:{index}>"
        date = _header(rec_headers, "WARC-Date") or _header(rec_headers, "archive-date") or ""
        metadata = {"url": url, "date": date, "dump": state["dump"] or "", "warc_file": basename}
        doc = Document(text="", id=record_id, metadata=metadata)
        try:
            return doc, self._judge(record, doc)
        except Exception as e:  # noqa: BLE001 - one bad record must not end the file
            return doc, self.error_drop(doc, e)

    def _judge(self, record, doc: Document) -> Drop | None:
        if record.rec_type != "response":
            return Drop("not_response", detail=record.rec_type or "")
        http = record.http_headers
        if http is None:
            return Drop("not_html", detail="no HTTP headers")
        status = http.get_statuscode()
        if not (status and status.isdigit() and 200 <= int(status) < 300):
            return Drop("http_status", value=float(status) if status and status.isdigit() else None, detail=str(status))
        content_type = _header(http, "Content-Type") or ""
        mime = content_type.split(";")[0].strip().lower()
        if mime and mime not in HTML_TYPES:
            return Drop("not_html", detail=mime)
        try:
            payload = record.content_stream().read(self.max_record_bytes + 1)
        except Exception as e:  # noqa: BLE001 - broken chunked or content encoding
            return Drop("undecodable", detail=f"{type(e).__name__}: {e}"[:300])
        encoding = (_header(http, "Content-Encoding") or "").lower()
        if encoding in ("gzip", "x-gzip") and payload[:2] == b"\x1f\x8b":
            # warcio hands back the raw bytes when the declared compression does not decompress
            return Drop("undecodable", detail=f"Content-Encoding {encoding} does not decompress")
        if len(payload) > self.max_record_bytes:
            return Drop("too_large", value=float(record.length or len(payload)))
        if _is_short(record):
            return Drop("truncated", value=float(record.length or 0), detail="record shorter than Content-Length")
        if not payload.strip():
            return Drop("empty")
        if not mime:
            import magic

            sniffed = magic.from_buffer(payload[:4096], mime=True)
            if sniffed not in HTML_TYPES:
                return Drop("not_html", detail=f"sniffed {sniffed}")
        if looks_binary(payload):
            return Drop("binary", detail=mime or "unlabelled")
        decoded = decode_html(payload, _charset_from_content_type(content_type))
        if decoded is None:
            return Drop("undecodable", detail="no charset decodes the payload")
        doc.text, doc.metadata["charset"] = decoded
        return None

    def _note_warcinfo(self, record, state: dict):
        if self.dump:
            return
        try:
            body = record.content_stream().read(65536).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - a broken warcinfo only costs us the dump name
            return
        for line in body.splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "ispartof" and value.strip():
                state["dump"] = value.strip()
                return


def _is_short(record) -> bool:
    """True when the record's block ended before its Content-Length: warcio returns such records silently."""
    raw = record.raw_stream
    while raw.read(_READ_CHUNK):
        pass
    return getattr(raw, "limit", 0) > 0


def _dump_from_path(path: str) -> str | None:
    m = _CC_DUMP.search(path)
    return m.group(0) if m else None
