"""Input files read over a network that fails now and then: retries with backoff, timeouts, resumed downloads.

A snapshot is ~90,000 files read for days; some requests get 429 or 5xx (S3's `SlowDown` is a 503), some stall,
some connections are reset or end before the body does. A file is opened here as a seekable byte stream that
hides those failures from the archive reader above it:

- HTTP(S) (urllib, so proxies from the environment and redirects work): every request has `timeout_s` to connect
  and for each read from the socket. 408, 429 and 5xx answers, timeouts, reset or refused connections, and a
  body that ends before its Content-Length are retried; a cut download goes on where it stopped with a range
  request (`Range: bytes=POS-`). A server that ignores ranges (answers 200) is read again from the start and the
  bytes before the position are discarded unparsed: the bytes that reach the reader are the same either way.
  404/410 (missing), 401/403 (refused) and other 4xx are not retried. A file whose ETag or Last-Modified changes
  between two requests is given up (its bytes would be a mix of two files).
- Any other fsspec backend that has no retry of its own (ftp, sftp, webhdfs, ...) is reopened and seeked back
  on an error other than missing or refused; its own timeouts apply. s3://, gs:// and Azure (s3fs, gcsfs, adlfs)
  retry inside their SDKs and are opened as they are, as are local files.

Retries wait `backoff_s * 2**k` seconds at most (k: failures in a row, capped at MAX_BACKOFF_S), a uniform random
share of it ("full jitter", so many tasks failing together do not retry together), or what a Retry-After header
asks when that is longer. `retries` failures in a row without a byte received give the file up (RemoteReadError);
a failure after progress starts the count again, so a long file survives many isolated cuts.
"""

import contextlib
import email.utils
import errno
import io
import random
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException

import fsspec

MAX_BACKOFF_S = 60.0
# fsspec backends whose SDK retries throttling and dropped connections itself (botocore, gcsfs, the Azure SDK)
SELF_RETRYING = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"})
LOCAL = frozenset({"", "file", "local"})
_DISCARD_CHUNK = 1 << 20


@dataclass(frozen=True)
class RetryPolicy:
    """input.retries, input.timeout_s, input.backoff_s: the defaults of the config keys."""

    retries: int = 8  # failures in a row (without a byte received) before a file is given up
    timeout_s: float = 60.0  # HTTP(S): to connect, and for each read from the socket
    backoff_s: float = 1.0  # first wait before a retry; doubled after each failure in a row, up to MAX_BACKOFF_S

    def wait(self, failures: int, retry_after: float | None = None) -> float:
        cap = min(MAX_BACKOFF_S, self.backoff_s * 2 ** min(failures, 30))
        wait = random.uniform(0, cap)
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_BACKOFF_S))
        return wait


# a file that is not there or not ours to read: retrying changes nothing
_FATAL = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


class RemoteReadError(OSError):
    """A file given up: its message is refinery's own words (never a server's body), kept in errors/."""

    def __init__(self, message: str):
        super().__init__(errno.EIO, message)


class _Transient(Exception):
    """A failure worth retrying; `kind` is its name in the stats (input/retries/<kind>)."""

    def __init__(self, kind: str, retry_after: float | None = None):
        super().__init__(kind)
        self.kind, self.retry_after = kind, retry_after


def protocol_of(path: str) -> str:
    return path.split("://", 1)[0].lower() if "://" in path else ""


def retries_itself(path: str) -> bool:
    """True when refinery adds nothing: a local file, or a backend that retries on its own."""
    protocol = protocol_of(path)
    return protocol in LOCAL or protocol in SELF_RETRYING or protocol == "memory"


def open_input(path: str, policy: RetryPolicy | None = None, on_retry=None):
    """A readable, seekable binary file (a context manager) for any input path. on_retry(kind) is called before
    each retry (kind: http_503, timeout, connection, cut, ...)."""
    if policy is None or retries_itself(path):
        return fsspec.open(path, "rb")
    source = _HttpSource(path, policy.timeout_s) if protocol_of(path) in ("http", "https") else _FsspecSource(path)
    return _Buffered(RetryingFile(source, policy, on_retry))


class RetryingFile(io.RawIOBase):
    """A read-only, seekable byte stream over a source that is opened again, at the position reached, after a
    failure. Seeking only moves the position: the next read opens the source there when it is not there."""

    def __init__(self, source, policy: RetryPolicy, on_retry=None):
        super().__init__()
        self.source, self.policy, self.on_retry = source, policy, on_retry
        self.pos = 0
        self.stream, self.stream_pos, self.stream_end = None, 0, None

    @property
    def name(self) -> str:
        return self.source.path

    @property
    def size(self) -> int | None:
        return self.source.size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self.pos + offset
        else:
            if self.size is None:
                self._with_retries(lambda: self._ensure_stream())
            if self.size is None:
                raise io.UnsupportedOperation("seek from the end of a file of unknown size")
            target = self.size + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self.pos = target
        return target

    def readinto(self, buffer) -> int:
        if len(buffer) == 0 or (self.size is not None and self.pos >= self.size):
            return 0
        return self._with_retries(lambda: self._read_once(buffer))

    @contextlib.contextmanager
    def _transient_errors(self):
        """A read's failures that a retry may cure, as _Transient (with their kind, for the stats)."""
        try:
            yield
        except (TimeoutError, socket.timeout):
            raise _Transient("timeout") from None
        except self.source.TRANSIENT as e:
            if isinstance(e, _FATAL):
                raise
            raise _Transient(self.source.transient_kind(e)) from None

    def _read_once(self, buffer) -> int:
        self._ensure_stream()
        if self.stream is None:  # nothing at this position (past the end)
            return 0
        with self._transient_errors():
            got = self.stream.readinto(buffer)
        if not got:
            end = self.stream_end if self.stream_end is not None else self.size
            if end is not None and self.pos < end:
                raise _Transient("cut")  # the connection ended before the body it announced
            return 0
        self.pos += got
        self.stream_pos += got
        return got

    def _ensure_stream(self):
        if self.stream is not None and self.stream_pos == self.pos:
            return
        if self.stream is not None and 0 < self.pos - self.stream_pos <= _DISCARD_CHUNK:
            self._discard(self.pos - self.stream_pos)  # a short skip forward: cheaper than a new request
            return
        self._drop_stream()
        opened = self.source.open_at(self.pos)
        if opened is None:
            return
        self.stream, self.stream_pos, self.stream_end = opened
        if self.stream_pos < self.pos:  # ranges refused: read the bytes before the position and throw them away
            self._discard(self.pos - self.stream_pos)

    def _discard(self, count: int):
        while count > 0:
            with self._transient_errors():
                chunk = self.stream.read(min(count, _DISCARD_CHUNK))
            if not chunk:
                raise _Transient("cut")
            count -= len(chunk)
            self.stream_pos += len(chunk)

    def _with_retries(self, attempt):
        failures = 0
        while True:
            try:
                return attempt()
            except _Transient as e:
                self._drop_stream()
                if failures >= self.policy.retries:
                    raise RemoteReadError(f"gave up after {failures} retries: last failure {e.kind} "
                                          f"at byte {self.pos}") from None
                delay = self.policy.wait(failures, e.retry_after)
                failures += 1
                if self.on_retry is not None:
                    self.on_retry(e.kind)
                time.sleep(delay)

    def _drop_stream(self):
        if self.stream is not None:
            try:
                self.stream.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is dropped anyway
                pass
        self.stream, self.stream_end = None, None

    def close(self):
        self._drop_stream()
        super().close()


class _Buffered(io.BufferedReader):
    """Reads from the network in large blocks; `size` is the file's, once a response has said it."""

    def __init__(self, raw: RetryingFile):
        super().__init__(raw, buffer_size=1 << 20)

    @property
    def size(self) -> int | None:
        return self.raw.size


class _HttpSource:
    """One HTTP(S) URL, opened at a byte position with a range request."""

    RETRIED = frozenset({408, 425, 429}) | frozenset(range(500, 600))
    TRANSIENT = (OSError, HTTPException, ValueError)  # while reading a body: a dropped or broken connection

    def __init__(self, url: str, timeout_s: float):
        self.path, self.timeout_s = url, timeout_s
        self.size: int | None = None
        self.version: tuple | None = None  # (ETag, Last-Modified) of the first answer

    def transient_kind(self, error: BaseException) -> str:
        if isinstance(error, ssl.SSLError):
            return "tls"
        if isinstance(error, (ConnectionError, HTTPException)):
            return "connection"
        return "network"

    def open_at(self, pos: int):
        """(stream, position of its first byte, position after its last byte or None), or None past the end."""
        headers = {"Accept-Encoding": "identity", "User-Agent": "refinery"}
        if pos > 0:
            headers["Range"] = f"bytes={pos}-"
        request = urllib.request.Request(self.path, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout_s)  # noqa: S310 - the user's input URL
        except urllib.error.HTTPError as e:
            status, retry_after = e.code, _retry_after(e.headers)
            e.close()
            if status == 416 and pos > 0:  # nothing at or after pos: the end of the file
                return None
            if status in self.RETRIED:
                raise _Transient(f"http_{status}", retry_after) from None
            if status in (404, 410):
                raise FileNotFoundError(errno.ENOENT, f"HTTP {status}: not found") from None
            if status in (401, 403):
                raise PermissionError(errno.EACCES, f"HTTP {status}: access refused") from None
            raise RemoteReadError(f"HTTP {status}") from None
        except (TimeoutError, socket.timeout):
            raise _Transient("timeout") from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise _Transient("timeout") from None
            if isinstance(reason, socket.gaierror):
                raise _Transient("dns") from None
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise RemoteReadError("TLS certificate not valid") from None
            raise _Transient(self.transient_kind(reason) if isinstance(reason, BaseException) else "connection") from None
        except (OSError, HTTPException) as e:
            raise _Transient(self.transient_kind(e)) from None
        status = response.status
        version = (response.headers.get("ETag"), response.headers.get("Last-Modified"))
        if self.version is None:
            self.version = version
        elif version != self.version and any(version) and any(self.version):
            response.close()
            raise RemoteReadError("the file changed on the server while it was read")
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != pos:
                response.close()
                raise RemoteReadError(f"range request for byte {pos} answered from byte {start}")
            if total is not None:
                self.size = total
            return response, pos, (pos + length if length is not None else self.size)
        # 200: the whole file, from its start (the server ignores ranges, or none was asked)
        if length is not None:
            self.size = length
        return response, 0, length


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """`bytes START-END/TOTAL` -> (START, TOTAL or None)."""
    try:
        unit, _, spec = (value or "").partition(" ")
        span, _, total = spec.partition("/")
        start = int(span.split("-", 1)[0])
        return start, (int(total) if total.isdigit() else None)
    except ValueError:
        return None, None


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class _FsspecSource:
    """Any fsspec backend without a retry of its own: reopened and seeked to the position after a failure. Each
    backend raises its own exception types (ftplib.error_temp, paramiko's, aiohttp's), so any failure but a missing
    or refused file is retried: a permanent one costs `retries` waits before the file is given up."""

    TRANSIENT = (Exception,)

    def __init__(self, path: str):
        self.path = path
        self.size: int | None = None

    def transient_kind(self, error: BaseException) -> str:
        if isinstance(error, (TimeoutError, socket.timeout)):
            return "timeout"
        return "connection" if isinstance(error, ConnectionError) else "network"

    def open_at(self, pos: int):
        try:
            f = fsspec.open(self.path, "rb").open()
            size = getattr(f, "size", None)
            if isinstance(size, int):
                self.size = size
            if self.size is not None and pos >= self.size:
                f.close()
                return None
            f.seek(pos)
        except _FATAL:
            raise
        except Exception as e:  # noqa: BLE001 - see the class docstring
            raise _Transient(self.transient_kind(e)) from None
        return f, pos, self.size
