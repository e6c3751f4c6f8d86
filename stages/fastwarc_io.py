"""FastWARC's ArchiveIterator for the read stage (engine `fastwarc`), with warcio's record semantics.

FastWARC only frames records: it finds WARC headers and decompresses the archive. Everything the read stage
judges a record by is done as under warcio, by the same code: the WARC headers become a warcio StatusAndHeaders
(with warcio's WARC-Target-URI clean-up), the HTTP headers are parsed by warcio's parser through bounded_io's
caps, and the body is read through bounded_io's capped chunked and Content-Encoding readers. So a record that
FastWARC frames the way warcio would gets the same verdict from both engines.

Framing is where the two differ: FastWARC reads gzip members as one stream (a member's Content-Length can run
into the next member), and it has no notion of warcio's resync. FastWARC is therefore only trusted with a record
once it has parsed the record after it, and the read stage hands a file to warcio (stages/read.py) from the
first record FastWARC could not vouch for: the one before any FastWARC error, the last record of the file (its
end, and any bytes after it, are checked by warcio), and any record FastWARC accepts but warcio refuses.
"""

from fastwarc.stream_io import GzipReader
from fastwarc.warc import ArchiveIterator
from warcio.recordloader import ArcWarcRecordLoader
from warcio.statusandheaders import StatusAndHeaders

from stages.bounded_io import MAX_HEADER_LINE, _CappedParser

_LOADER = ArcWarcRecordLoader()
_HTTP_PARSER = _CappedParser(_LOADER.http_parser, "HTTP header", soft=True)


class NotWarcioRecord(Exception):
    """A record FastWARC accepts that warcio does not parse: warcio reads the file from it on."""


def fast_iterator(fileobj, kind: str):
    """(FastWARC's iterator over a gzip or uncompressed WARC, a function giving the file offset of the gzip
    member being read or None). FastWARC's detection of other compressions (lz4, zstd) stays off: warcio reads
    none of them, and both engines must give a file the same outcome."""
    # FastWARC's header cap is per block; the line cap is the tighter of bounded_io's two, so any WARC header
    # FastWARC accepts is under both of warcio's caps, and one it refuses is handed to warcio to decide
    options = dict(parse_http=False, max_header_len=MAX_HEADER_LINE, strict_mode=True, stream_detect=False)
    if kind == "gzip":
        stream = GzipReader(fileobj)
        return ArchiveIterator(stream, **options), stream.frame_start_position
    return ArchiveIterator(fileobj, **options), None


class _Block:
    """A record's block as warcio's LimitReader: `limit` is what Content-Length promised and was not read yet."""

    def __init__(self, reader, length: int):
        self.reader, self.limit = reader, length

    def read(self, size=-1):
        data = self.reader.read(size if size is not None and size >= 0 else -1)
        self.limit -= len(data)
        return data

    def readline(self, size=-1):
        data = self.reader.readline(size if size is not None and size >= 0 else MAX_HEADER_LINE + 1)
        self.limit -= len(data)
        return data


class FastRecord:
    """The attributes of warcio's ArcWarcRecord that the read stage uses, for one FastWARC record."""

    format = "warc"

    def __init__(self, record):
        self.stream_pos = record.stream_pos
        self.rec_headers = StatusAndHeaders("WARC/1.0", list(record.headers.items()), protocol="")
        self.rec_type = self.rec_headers.get_header("WARC-Type")
        uri = _LOADER._ensure_target_uri_format(self.rec_headers)
        self.length = record.content_length
        self.raw_stream = _Block(record.reader, self.length)
        self.http_headers = None
        # warcio parses HTTP headers while reading a record, so a failure there is a framing failure under
        # warcio; doing the same here keeps it one (only response records are judged by their HTTP headers)
        if self.rec_type == "response" and self.length:
            if uri is None:
                raise NotWarcioRecord("response without WARC-Target-URI")
            if uri.startswith(ArcWarcRecordLoader.HTTP_SCHEMES):
                try:
                    self.http_headers = _HTTP_PARSER.parse(self.raw_stream)
                except Exception as e:  # noqa: BLE001 - whatever warcio makes of it, warcio decides
                    raise NotWarcioRecord(type(e).__name__) from e

    def content_stream(self):
        return self.raw_stream
