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
from dataclasses import asdict, dataclass
from typing import Iterator

import fsspec
from datatrove.data import Document, DocumentsPipeline
from datatrove.utils.logging import logger

from stages.base import Drop, RefineryStage
from stages.registry import key
from stages.bounded_io import BoundedArchiveIterator, HeadersOverCap, TooLarge, content_stream
from stages.remote_io import RemoteReadError, RetryPolicy, open_input
from refinery.atomic import write_json_atomic

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xhtml", "text/xhtml"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_CC_DUMP = re.compile(r"CC-MAIN-\d{4}-\d{2}")
_READ_CHUNK = 1 << 20
ENGINES = ("fastwarc", "warcio")
# the read stage's counts of its input files that `refinery stats` shows (pipeline/stats.py), beside `files`
STAT_RETRIES = "input/retries"  # reads retried (and input/retries/<kind>: http_503, timeout, cut, ...)
STAT_FAILED = "input/failed_files"  # files listed in errors/ with failed: true


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


@dataclass
class ReadParams:
    max_record_bytes: int = key(10_000_000, min=0, min_exclusive=True,
                                help="larger payloads are dropped as too_large; at most this much is held in memory")
    engine: str = key("fastwarc", choices=ENGINES,
                      help="what frames WARC records: fastwarc (faster) or warcio; ARC files and damaged stretches "
                           "are always read by warcio, and both give the same records and verdicts")


class WarcReadStage(RefineryStage):
    """Reads WARC (gzip per record or whole-file, or uncompressed) and ARC files from any fsspec path."""

    name = "read"
    order = 0
    summary = ("WARC/ARC records to HTML documents; charset from UTF-8, the HTTP and HTML meta labels, then detection; "
               "damaged stretches of a file are skipped to the next record start")
    Params = ReadParams
    required = "every run starts by reading WARC files"
    reasons = (
        "not_response",  # warcinfo, request, metadata, revisit, conversion, resource ... records
        "not_html",  # response whose content type (declared or sniffed) is not HTML
        "binary",  # labelled HTML but the payload is binary
        "http_status",  # HTTP status other than 2xx (redirects and errors carry no page text)
        "undecodable",  # transfer/content encoding broken, or no charset decodes the bytes
        "truncated",  # record shorter than its Content-Length (warcio returns it silently)
        "bad_length",  # record longer than its Content-Length: the next record did not start where it ended
        "too_large",  # payload or header above a cap (stages.read.max_record_bytes, header limits)
        "empty",  # response with no payload
    )
    inspect_metrics = ("chars",)
    preflight_label = "read (warcio, fastwarc, faust-cchardet, python-magic)"

    @classmethod
    def build(cls, params, ctx):
        ctx.add("curate", cls.order, cls(ctx.files, dump=ctx.cfg.dump, errors_dir=ctx.layout.errors,
                                         output=ctx.output, retry=ctx.cfg.retry_policy(), **asdict(params)))

    @classmethod
    def preflight(cls, params):
        import cchardet  # noqa: F401
        import magic

        import warcio  # noqa: F401

        if params.engine == "fastwarc":
            import fastwarc  # noqa: F401
        magic.from_buffer(b"<html><body>x</body></html>", mime=True)

    def __init__(
        self,
        files: list[str],
        dump: str | None = None,
        max_record_bytes: int = 10_000_000,
        errors_dir: str | None = None,
        output=None,
        engine: str = ReadParams.engine,
        retry: RetryPolicy | None = None,
    ):
        super().__init__(output)
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        self.engine = engine
        self.files = list(files)
        self.dump = dump
        self.max_record_bytes = max_record_bytes
        self.errors_dir = errors_dir
        self.retry = retry or RetryPolicy()

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
    def open_input(self, path: str):
        """The file as a seekable byte stream; over HTTP(S) and backends without retries of their own, one that
        retries and resumes (stages/remote_io.py), each retry counted in the stats."""
        return open_input(path, self.retry, self._count_retry)

    def _count_retry(self, kind: str):
        self.stat_update(STAT_RETRIES, f"{STAT_RETRIES}/{kind}")

    def read_file(self, path: str, errors: list[dict]) -> Iterator[tuple[Document, Drop | None]]:
        """Every record of one file; a damaged stretch is skipped to the next record start and listed."""
        state = {"records": 0, "dump": self.dump or _dump_from_path(path), "end": 0}
        start, tried, first_error, skipped, resyncs = 0, set(), None, 0, 0
        unavailable = False  # the file could not be opened or fetched (missing, refused, retries spent)
        resyncable = True  # False once read as one gzip stream, whose offsets are not file offsets
        kind = ""  # the kind of file, looked at on the first error only, not for every file
        # FastWARC reads local files; a remote file object (HTTP, S3) is read by warcio: re-reading the stretch FastWARC
        # did not vouch for needs seeks that fsspec's HTTP files answer differently from a local file
        fast, already = self.engine == "fastwarc" and _is_local(path), 0
        while True:
            tried.add(start)
            try:
                with self.open_input(path) as f:
                    if fast:  # once per file, from its start; warcio reads whatever FastWARC leaves
                        fast = False
                        # the offset handed over is not added to `tried`: warcio may resync onto it as it would alone
                        start, already = yield from self._fast_records(f, path, state)
                    f.seek(start)
                    passed, already = already, 0
                    yield from self._records(BoundedArchiveIterator(f, arc2warc=False), path, state, already=passed)
                    # warcio can end quietly inside a damaged gzip member: bytes left after the last record are
                    # an error (and a place to resync from), not the end of the file
                    f.seek(state["end"])
                    tail = f.read(4096)
                    if tail.strip(b"\r\n\t \x00"):
                        raise UnreadTail(f"data after the last record read (byte {state['end']}) could not be parsed")
                break
            except Exception as e:  # noqa: BLE001 - any failure of a file is recorded, never fatal
                error = e
            # a WARC gzipped as one stream instead of one member per record: warcio refuses to stream it after
            # the first record, but decompressing the whole stream and parsing that recovers every record
            if start == 0 and "non-chunked gzip" in str(error):
                try:
                    with self.open_input(path) as raw, gzip.GzipFile(fileobj=raw) as f:
                        yield from self._records(BoundedArchiveIterator(f, arc2warc=False), path, state, skip=state["records"])
                    break
                except Exception as e:  # noqa: BLE001
                    error, resyncable = e, False
            if isinstance(error, MisalignedRecord) and error.resume_at is not None:
                self.stat_update("missing_separators")
                start = error.resume_at
                continue
            message = describe_read_error(error)
            first_error = first_error or f"at byte {max(state['end'], start)}: {message}"
            unavailable = unavailable or isinstance(error, UNAVAILABLE)
            # go on at the next place a record can start after the last record read whole; what lies between
            # is lost (a damaged member, a record whose Content-Length was wrong) and its size is reported.
            # A file that cannot be opened or fetched (retries spent) is given up: no request more for it
            if kind == "" and not unavailable:
                kind = self._kind(path, state)
            resume = None
            if kind and resyncable and resyncs < _MAX_RESYNCS and not unavailable:
                resume = _next_record_start(path, kind, state["end"], tried, self.open_input)
            logger.warning(
                f"[read] {path}: {message} after {state['records']} records; "
                + (f"resuming at byte {resume}" if resume is not None else "giving up on the rest of the file")
            )
            if resume is None:
                break
            self.stat_update("resyncs")
            resyncs += 1
            skipped += resume - max(state["end"], start)
            start = resume
        if not first_error and state["records"] == 0:
            first_error = "no records found (empty file)"
        if first_error:
            self.stat_update("file_errors")
            # failed: nothing of the file could be used, or reading it stopped on an I/O failure; such files are
            # what input.max_failed_fraction counts (a damaged file read around its damage is not failed)
            failed = unavailable or state["records"] == 0
            if failed:
                self.stat_update(STAT_FAILED)
            facts = ({"size": None, "format": "unreadable"} if unavailable and not _is_local(path)
                     else _file_facts(path, self.open_input))
            errors.append({"file": path, "error": first_error, **facts, "records_read": state["records"],
                           "resyncs": resyncs, "skipped_bytes": skipped, "failed": failed})

    def _fast_records(self, f, path: str, state: dict):
        """The records FastWARC reads and vouches for (see stages/fastwarc_io.py), from the file's start.
        Returns where warcio goes on: (offset, records at that offset already read, when not a file offset)."""
        from stages.fastwarc_io import FastRecord, fast_iterator

        kind = self._kind(path, state)
        if kind not in ("gzip", "warc"):  # ARC, or no archive at all: warcio's alone
            return 0, 0
        basename = os.path.basename(path)
        (iterator, member_start), held = fast_iterator(f, kind), None
        while True:
            try:
                record = FastRecord(next(iterator))
            except StopIteration:
                break
            except Exception:  # noqa: BLE001 - NotWarcioRecord or any FastWARC failure: warcio's to judge
                break
            if held:
                yield self._release(held, state)
            state.setdefault("format", _format_of(record))
            with self.track_time():
                doc, verdict = self._record_to_doc(record, basename, state["records"], state)
            # a block that ends before its Content-Length (a cut file or member), or in another gzip member than
            # it began in (warcio reads a member as one record), is warcio's to judge
            if _is_short(record) or (member_start and member_start() != record.stream_pos):
                return self._resume_at(path, record.stream_pos, state)
            doc.metadata["warc_offset"] = record.stream_pos
            held = (doc, verdict, record.stream_pos)
        if held is None:
            return 0, 0
        # the held record is read again by warcio, which checks its end and what follows it
        return self._resume_at(path, held[2], state)

    def _kind(self, path: str, state: dict) -> str | None:
        """The file's archive kind (_archive_kind), kept once known: for a remote file each look is a request.
        None (no archive, or the look failed) is not kept: a later look may get through."""
        if state.get("kind") is None:
            state["kind"] = _archive_kind(path, self.open_input)
        return state["kind"]

    def _release(self, held, state: dict):
        doc, verdict, _ = held
        state["records"] += 1
        return doc, verdict

    def _resume_at(self, path: str, offset: int, state: dict) -> tuple[int, int]:
        """Where warcio takes over: FastWARC's stream_pos is a file offset in an uncompressed file and in one
        gzip member per record, not inside a whole-file gzip stream; there warcio reads from the start and
        passes over the records already read."""
        kind = self._kind(path, state)
        if offset > 0 and kind in ("gzip", "warc") and _record_starts_at(path, kind, offset, self.open_input):
            state["end"] = max(state["end"], offset)
            return offset, 0
        return 0, state["records"]

    def _records(self, iterator, path: str, state: dict, skip: int = 0, already: int = 0):
        basename = os.path.basename(path)
        resumed = iterator.offset > 0
        warnings = 0
        for i, record in enumerate(iterator):
            if i < skip or i < already:
                continue
            record_format = _format_of(record)
            if i == 0 and not resumed and record_format == "arc" and record.rec_type != "arc_header":
                # warcio reads any text line of five words as an ARC header; a real ARC starts with filedesc://
                raise ReadError("not a WARC or ARC file (no WARC header, no ARC filedesc record)")
            if i == 0 and resumed and record_format != state.get("format", record_format):
                raise ReadError(f"resynced onto something that is not a {state['format'].upper()} record")
            state.setdefault("format", record_format)
            index = state["records"]
            state["records"] += 1
            with self.track_time():
                doc, verdict = self._record_to_doc(record, basename, index, state)
            # only valid once the record was read: warcio skips to its end (and past the blank lines) to answer
            offset, length = iterator.get_record_offset(), iterator.get_record_length()
            doc.metadata["warc_offset"] = offset
            if skip:  # inside a whole-file gzip stream warcio's offsets are not file offsets
                yield doc, verdict
                continue
            state["end"] = max(state["end"], offset + length)
            if iterator.err_count == warnings:
                yield doc, verdict
                continue
            # warcio found no blank line where this record's Content-Length ended, and has already eaten the
            # line it found there. If a record starts exactly there, only the separator was missing (old ARCs
            # count it in the length); otherwise the length was wrong, the payload cannot be trusted, and the
            # next record may start anywhere inside what warcio took for this one
            warnings = iterator.err_count
            kind = self._kind(path, state)
            if kind in ("warc", "arc") and _record_starts_at(path, kind, state["end"], self.open_input):
                yield doc, verdict
                raise MisalignedRecord("", resume_at=state["end"])
            verdict = Drop("bad_length", value=float(length), detail="record not followed by a blank line: wrong Content-Length")
            state["end"] = offset + 1
            yield doc, verdict
            raise MisalignedRecord(f"record at byte {offset} is not followed by a blank line (wrong Content-Length?)")

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
        except RemoteReadError:  # the file's bytes stopped coming (retries spent): the file ends here, listed
            raise
        except Exception as e:  # noqa: BLE001 - one bad record must not end the file
            return doc, self.error_drop(doc, e)

    def _judge(self, record, doc: Document) -> Drop | None:
        if record.rec_type != "response":
            return Drop("not_response", detail=record.rec_type or "")
        http = record.http_headers
        if isinstance(http, HeadersOverCap):
            return Drop("too_large", value=float(record.length or 0), detail=str(http.too_large))
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
            payload = content_stream(record, self.max_record_bytes).read(self.max_record_bytes + 1)
        except TooLarge as e:
            return Drop("too_large", value=float(e.value if e.value is not None else record.length or 0), detail=str(e))
        except RemoteReadError:
            raise
        except Exception as e:  # noqa: BLE001 - broken chunked or content encoding
            return Drop("undecodable", detail=f"{type(e).__name__} while decoding the payload")
        encoding = (_header(http, "Content-Encoding") or "").lower()
        if encoding in ("gzip", "x-gzip") and payload[:2] == b"\x1f\x8b":
            # warcio hands back the raw bytes when the declared compression does not decompress
            return Drop("undecodable", detail=f"Content-Encoding {encoding} does not decompress")
        if len(payload) > self.max_record_bytes:
            return Drop("too_large", value=float(record.length or len(payload)), detail=f"payload over {self.max_record_bytes} bytes")
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
        except RemoteReadError:
            raise
        except Exception:  # noqa: BLE001 - a broken warcinfo only costs us the dump name
            return
        for line in body.splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "ispartof" and value.strip():
                state["dump"] = value.strip()
                return


# a file that cannot be opened or fetched: given up at once, no resync tried
UNAVAILABLE = (RemoteReadError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


class ReadError(Exception):
    """Raised by this module with a message of its own words: the only exception text errors/ repeats."""


# library exceptions whose text is fixed by the library (zlib's "invalid block type" ...), never the file's bytes
_FIXED_TEXT = (EOFError,)
_ZLIB_ERRORS = ("zlib.error",)


def describe_read_error(error: BaseException) -> str:
    """What went wrong, in words that cannot quote the file: warcio ("Unknown archive format, first line: [...]")
    and gzip ("Not a gzipped file (b'..')") put the file's bytes in their messages, so those are named by type."""
    name = type(error).__name__
    if isinstance(error, ReadError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        return f"{name}: {error.strerror}"
    if isinstance(error, _FIXED_TEXT) or f"{type(error).__module__}.{name}" in _ZLIB_ERRORS:
        return f"{name}: {str(error)[:200]}"
    if name == "ArchiveLoadFailed":
        return f"{name}: not a WARC or ARC record here"
    return f"{name}: the bytes here could not be read as an archive"


def _file_facts(path: str, opener=fsspec.open) -> dict:
    """The file's size and a guess of its format from its first bytes (never the bytes themselves)."""
    facts = {"size": None, "format": "unreadable"}
    try:
        with opener(path) as f:
            head = f.read(4096)
            facts["size"] = f.size if isinstance(getattr(f, "size", None), int) else None
    except Exception:  # noqa: BLE001 - a missing or unreadable file has no facts beyond its error
        return facts
    if facts["size"] is None and "://" not in path and os.path.isfile(path):
        facts["size"] = os.path.getsize(path)
    kind = {"gzip": "gzip", "warc": "WARC", "arc": "ARC"}.get(_kind_of(head))
    if kind is None:
        import magic

        kind = f"not an archive ({magic.from_buffer(head, mime=True)})" if head else "empty"
    facts["format"] = kind
    return facts


class UnreadTail(ReadError):
    """The archive iterator stopped before the end of the file."""


class MisalignedRecord(ReadError):
    """The stream is no longer at a record boundary; reading goes on at the next record start. With resume_at,
    only the blank line between two records was missing: nothing was lost and no error is listed."""

    def __init__(self, message: str, resume_at: int | None = None):
        super().__init__(message)
        self.resume_at = resume_at


def _format_of(record) -> str:
    return getattr(record, "format", "warc")[:3]


def _is_short(record) -> bool:
    """True when the record's block ended before its Content-Length: warcio returns such records silently."""
    raw = record.raw_stream
    while raw.read(_READ_CHUNK):
        pass
    return getattr(raw, "limit", 0) > 0


# what a record starts with, per kind of file: a gzip member, a WARC header line, an ARC (v1 or v2) header line
_RECORD_HEAD = {
    "gzip": rb"\x1f\x8b\x08",
    "warc": rb"WARC/1\.[01]\r?\n",
    "arc": rb"[a-z][a-z0-9+.-]*://\S* \S+ \d{14} \S+ (?:\S+ ){0,5}\d+\r?\n",
}
# found by scanning: a header line must also start a line (the file's start counts as one); group 1 is the start
_RECORD_START = {k: re.compile((b"(" if k == "gzip" else rb"\n(") + v + b")") for k, v in _RECORD_HEAD.items()}
_RECORD_AT = {k: re.compile(v) for k, v in _RECORD_HEAD.items()}
_MAX_RESYNCS = 1000  # per file: random bytes can look like record starts; give up after this many tries


def _archive_kind(path: str, opener=fsspec.open) -> str | None:
    try:
        with opener(path) as f:
            head = f.read(16)
    except Exception:  # noqa: BLE001 - unreadable: read_file reports the error itself
        return None
    return _kind_of(head)


def _kind_of(head: bytes) -> str | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"WARC/"):
        return "warc"
    if head.startswith(b"filedesc://"):
        return "arc"
    return None


def _record_starts_at(path: str, kind: str, offset: int, opener=fsspec.open) -> bool:
    with opener(path) as f:
        f.seek(offset)
        return bool(_RECORD_AT[kind].match(f.read(65536)))


def _next_record_start(path: str, kind: str, after: int, tried: set, opener=fsspec.open) -> int | None:
    """Offset of the first place at or after `after` where a record of this kind can start, not tried yet."""
    pattern, overlap = _RECORD_START[kind], 65536
    lead = 0 if kind == "gzip" else 1
    with opener(path) as f:
        f.seek(max(0, after - lead))
        base = after - lead
        buf = b"\n" if (lead and after == 0) else b""
        while True:
            chunk = f.read(_READ_CHUNK)
            buf += chunk
            for m in pattern.finditer(buf):
                pos = base + m.start(1)
                if pos >= after and pos not in tried:
                    return pos
            if not chunk:
                return None
            keep = min(len(buf), overlap)
            base, buf = base + len(buf) - keep, buf[-keep:]


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _dump_from_path(path: str) -> str | None:
    m = _CC_DUMP.search(path)
    return m.group(0) if m else None
