"""warcio's readers with every allocation of one record bounded, whatever the record's bytes claim.

warcio reads a header line whole however long it is, keeps every header of a block, reads a whole chunk of a
chunked body before looking at it, and decompresses a chunk in one call with no limit on the output. A record
of a few hundred bytes can therefore ask for gigabytes (gzip of gzip of zeros, one chunk of 0x40000000 bytes, a
header line or a gzip member with no line end). These subclasses and wrappers cap each of those while reading:

- a header line (WARC, ARC or HTTP) at MAX_HEADER_LINE bytes and a header block at MAX_HEADER_BLOCK;
- any line read from the archive stream at MAX_LINE_READ, so warcio's own line reads between records stop too;
- a chunk of a chunked body, and the output of Content-Encoding decompression, at the stage's max_record_bytes.

An HTTP header block or a payload over its cap makes the record too large (TooLarge; the read stage drops it as
`too_large` and goes on with the next record). A WARC or ARC header over its cap leaves no record to drop: the
iterator raises TooLarge and the read stage skips to the next record start, as for any other damaged bytes.

Decompression of the archive itself (a gzip member per record, or a whole-file gzip stream) is already bounded
per call: warcio feeds the decompressor 16 KiB at a time and deflate expands at most ~1032 times, so at most
~17 MiB comes out of one call. Only its line reads needed a cap.
"""

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader, ChunkedDataReader, DecompressingBufferedReader
from warcio.statusandheaders import StatusAndHeaders

# real header lines are a few hundred bytes; this leaves room for the longest Set-Cookie and CSP lines
MAX_HEADER_LINE = 64 * 1024
# Chromium's limit for a response's headers (kMaxHeaderBufSize: it fails a response over it with
# ERR_RESPONSE_HEADERS_TOO_BIG)
MAX_HEADER_BLOCK = 256 * 1024
# header parsers ask for at most MAX_HEADER_LINE + 1; this stops warcio's own unbounded readline() calls
MAX_LINE_READ = 1 << 20

# zlib-based only: those take a limit on their output. warcio also decodes br when `brotli` is installed, but
# brotli's decompress() has no such limit; br bodies stay undecoded, as they are without brotli
BOUNDED_ENCODINGS = ("gzip", "deflate")


class TooLarge(Exception):
    """Something in a record is over one of the read stage's caps."""

    def __init__(self, what: str, cap: int, value: int | None = None):
        super().__init__(f"{what} over {cap} bytes" if value is None else f"{what} of {value} bytes, over {cap}")
        self.what, self.cap, self.value = what, cap, value


class HeadersOverCap(StatusAndHeaders):
    """Stands in for an HTTP header block that went over a cap; the record's content is never read."""

    def __init__(self, error: TooLarge):
        super().__init__(statusline="", headers=[], protocol="")
        self.too_large = error

    def __bool__(self):  # empty, but there were headers: not a record without HTTP headers
        return True


class _HeaderBudget:
    """The readline() a header parser sees: every line and the block as a whole are capped."""

    def __init__(self, stream, what: str):
        self.stream, self.what = stream, what
        self.left = MAX_HEADER_BLOCK

    def readline(self, length=None):
        line = self.stream.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            raise TooLarge(f"{self.what} line", MAX_HEADER_LINE)
        self.left -= len(line)
        if self.left < 0:
            raise TooLarge(f"{self.what} block", MAX_HEADER_BLOCK)
        return line


class _CappedParser:
    """Any of warcio's header parsers, reading through a _HeaderBudget. With `soft`, a block over a cap parses
    to HeadersOverCap instead of raising, so the record around it can still be counted and skipped."""

    def __init__(self, parser, what: str, soft: bool = False):
        self.parser, self.what, self.soft = parser, what, soft

    def parse(self, stream, statusline=None):
        try:
            # a first line read by warcio between records, at most MAX_LINE_READ long
            if statusline is not None and len(statusline) > MAX_HEADER_LINE:
                raise TooLarge(f"{self.what} line", MAX_HEADER_LINE)
            return self.parser.parse(_HeaderBudget(stream, self.what), statusline)
        except TooLarge as e:
            if self.soft:
                return HeadersOverCap(e)
            raise

    def __getattr__(self, name):  # get_rec_type() of the ARC parsers
        return getattr(self.parser, name)


class _LineCappedReader(DecompressingBufferedReader):
    """The archive stream. Its readline() is what warcio uses for header lines and for the blank lines between
    records; unbounded, a member of a gigabyte with no line end is read into one bytes object."""

    def readline(self, length=None):
        if length is None or length > MAX_LINE_READ:
            length = MAX_LINE_READ
        return super().readline(length)


class BoundedArchiveIterator(ArchiveIterator):
    """warcio's ArchiveIterator with header lines and blocks capped (see the module's docstring)."""

    def __init__(self, fileobj, **kwargs):
        super().__init__(fileobj, **kwargs)
        # nothing has been read yet: the iterator's generator only starts on the first next()
        self.reader = _LineCappedReader(self.fh, block_size=self.reader.block_size)
        loader = self.loader
        loader.warc_parser = _CappedParser(loader.warc_parser, "WARC header")
        loader.arc_parser = _CappedParser(loader.arc_parser, "ARC header")
        loader.http_parser = _CappedParser(loader.http_parser, "HTTP header", soft=True)
        loader.http_req_parser = _CappedParser(loader.http_req_parser, "HTTP header", soft=True)


class _CappedDecompressor:
    """A zlib decompressor whose output over one record stops one byte past the reader's cap; the input left
    over stays inside it, never decompressed."""

    def __init__(self, inner, reader: "_CappedDecoding"):
        self.inner, self.reader = inner, reader

    def decompress(self, data: bytes) -> bytes:
        room = self.reader.max_bytes + 1 - self.reader.decoded
        out = self.inner.decompress(data, max(room, 1))
        self.reader.decoded += len(out)
        return out

    @property
    def unused_data(self):
        return self.inner.unused_data

    def flush(self) -> bytes:
        # zlib's flush() would decompress all the input held back, with no limit
        return b""


class _CappedDecoding:
    """Mixin for warcio's BufferedReader and ChunkedDataReader: decoded output stops at max_bytes."""

    def __init__(self, stream, max_bytes: int, **kwargs):
        # the declared name: warcio retries a deflate body that fails as zlib as raw deflate ("deflate_alt")
        self.max_bytes, self.decoded, self.encoding = max_bytes, 0, kwargs.get("decomp_type")
        super().__init__(stream, **kwargs)

    def _init_decomp(self, decomp_type):
        super()._init_decomp(decomp_type)
        if self.decompressor is not None:
            self.decompressor = _CappedDecompressor(self.decompressor, self)

    def _process_read(self, data):
        super()._process_read(data)
        if self.decoded > self.max_bytes:
            raise TooLarge(f"Content-Encoding {self.encoding} output", self.max_bytes)


class _CappedReader(_CappedDecoding, BufferedReader):
    pass


class _CappedChunkedReader(_CappedDecoding, ChunkedDataReader):
    def __init__(self, stream, max_bytes: int, **kwargs):
        super().__init__(stream, max_bytes, **kwargs)
        # deflate's stored blocks make data that does not compress up to 5 bytes per 64 KiB (plus an 18-byte
        # gzip frame) larger than what it decodes to; past this a chunk cannot decode to max_bytes or less
        self.max_chunk = max_bytes + max_bytes // 10_000 + 64

    def _try_decode(self, length_header):
        size = _chunk_size(length_header)
        if size is not None and size > self.max_chunk:
            # warcio would read the whole chunk into memory first. A chunk that claims more than the record
            # holds is a cut record: warcio keeps what is there, and so do we when that is small enough
            held = getattr(self.stream, "limit", size)
            if min(size, held) > self.max_chunk:
                raise TooLarge("chunk", self.max_bytes, size)
        return super()._try_decode(length_header)


def _chunk_size(length_header: bytes) -> int | None:
    """The size a chunk header declares, parsed as warcio parses it; None when warcio would not parse it."""
    if length_header[-2:] != b"\r\n":
        return None
    try:
        return int(length_header[:-2].split(b";")[0], 16)
    except ValueError:
        return None


def content_stream(record, max_bytes: int):
    """record.content_stream(), with a chunk and the decoded output of one record capped at max_bytes (over it,
    read() raises TooLarge). A body that is neither chunked nor encoded is the raw stream: read it with a limit."""
    http = record.http_headers
    if not http:
        return record.raw_stream
    encoding = (http.get_header("content-encoding") or "").strip().lower()
    encoding = encoding if encoding in BOUNDED_ENCODINGS else None
    if http.get_header("transfer-encoding") == "chunked":
        return _CappedChunkedReader(record.raw_stream, max_bytes, decomp_type=encoding)
    if encoding:
        return _CappedReader(record.raw_stream, max_bytes, decomp_type=encoding)
    return record.raw_stream
