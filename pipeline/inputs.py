"""Turning `--input` values into the list of archive files a run reads.

A value is a local path or any fsspec URL (s3://, https://, ...); a glob (expanded here, so quote it in the
shell); a folder (every file under it); or a Common Crawl listing (`warc.paths.gz`, one path per line),
whose relative entries resolve against the base URL (https://data.commoncrawl.org/ by default, or a local
folder); a listing is read line by line as it is decompressed, and only as far as --limit-files needs. A listing is data from elsewhere: an entry that leads out of the base (its own scheme or host, an
absolute path, `..`) is refused and listed in errors/ unless the user allows foreign entries.
"""

import gzip
import os
import posixpath
import zlib
from contextlib import closing
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import unquote

import fsspec


class InputError(ValueError):
    pass


def is_listing(value: str) -> bool:
    name = value.rsplit("/", 1)[-1]
    return name.endswith((".paths.gz", ".paths", "paths.txt", "paths.txt.gz"))


def _has_glob(value: str) -> bool:
    if value.startswith(("http://", "https://")):
        return False  # "?" starts a query string (signed URLs), and HTTP has no listing to glob
    return any(ch in value for ch in "*?[")


@dataclass
class ResolvedInputs:
    files: list[str]
    refused: list[dict] = field(default_factory=list)  # errors/ entries for listing entries outside the base


def join_base(base: str, entry: str) -> str:
    if "://" in entry or os.path.isabs(entry):
        return entry
    return base.rstrip("/") + "/" + entry.lstrip("/")


def _where(location: str) -> tuple[str, str, str]:
    """(scheme, host, normalised path); a local path and file:// are the same place."""
    if "://" in location:
        scheme, rest = location.split("://", 1)
        scheme = scheme.lower()
        if scheme != "file":
            host, _, path = rest.partition("/")
            # percent-decoded and normalised, so "%2e%2e/" and "a/../.." are seen for what a server makes of them
            return scheme, host.lower(), posixpath.normpath("/" + unquote(path.split("?", 1)[0].split("#", 1)[0]))
        location = rest
    return "", "", os.path.normpath(os.path.abspath(location))


def within_base(base: str, target: str) -> bool:
    bs, bh, bp = _where(base)
    ts, th, tp = _where(target)
    return (bs, bh) == (ts, th) and (tp == bp or tp.startswith(bp.rstrip("/") + "/"))


def printable(text: str, limit: int = 300) -> str:
    """A string from a file of someone else's, safe to print and to store in errors/ (no control characters)."""
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                    for c in text[:limit])
    return shown + ("..." if len(text) > limit else "")


MAX_LISTING_LINE = 64 * 1024  # a listing entry is a path: a longer "line" is refused, never held whole


def _listing_lines(stream) -> Iterator[bytes | None]:
    """A listing's lines, read one at a time (a gzip listing decompressed as it is read); None for a line over
    MAX_LISTING_LINE (the rest of it is read past, in bounded pieces)."""
    while True:
        line = stream.readline(MAX_LISTING_LINE + 1)
        if not line:
            return
        if len(line) > MAX_LISTING_LINE and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = stream.readline(MAX_LISTING_LINE + 1)
            yield None
            continue
        yield line


def iter_listing(value: str, base_url: str, allow_foreign: bool = False, policy=None) -> Iterator[tuple[str, object]]:
    """A listing's entries in order, streamed: ("file", path) for an entry to read, ("refused", errors/ entry) for one
    that leads out of the base. Stopping early (--limit-files) reads and decompresses no further. policy: a
    stages.remote_io.RetryPolicy for a listing over HTTP(S)."""
    from stages.remote_io import open_input

    def cannot(e: BaseException, line: int) -> InputError:
        what = getattr(e, "strerror", None) or ("the gzip stream is cut or damaged" if line else "unreadable")
        where = f" (after line {line})" if line else ""
        return InputError(f"cannot read listing {value}{where}: {type(e).__name__}: {what}")

    number = 0
    try:
        with open_input(value, policy) as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
            for line in _listing_lines(stream):
                number += 1
                if line is None:
                    yield "refused", {"file": f"(line {number})", "listing": printable(value), "records_read": 0,
                                      "error": f"listing entry over {MAX_LISTING_LINE} bytes: refused, not read"}
                    continue
                entry = line.decode("utf-8", "replace").strip()
                if not entry or entry.startswith("#"):
                    continue
                target = join_base(base_url, entry)
                if allow_foreign or within_base(base_url, target):
                    yield "file", target
                else:
                    yield "refused", {
                        "file": printable(entry), "listing": printable(value), "records_read": 0,
                        "error": f"listing entry leads out of the base {printable(base_url)}: refused, not read "
                                 f"(--allow-foreign-entries reads such entries)"}
    except (OSError, EOFError, zlib.error) as e:  # missing, refused, or a gzip stream cut or damaged on the way
        raise cannot(e, number) from None


def read_listing(value: str, base_url: str, allow_foreign: bool = False, policy=None) -> ResolvedInputs:
    resolved = ResolvedInputs([])
    for kind, item in iter_listing(value, base_url, allow_foreign, policy):
        (resolved.files if kind == "file" else resolved.refused).append(item)
    return resolved


def snapshot_listing(snapshot: str, base_url: str) -> str:
    """Where Common Crawl keeps a snapshot's list of WARC files: {base}/crawl-data/{SNAPSHOT}/warc.paths.gz."""
    if not snapshot or "/" in snapshot or snapshot.strip() != snapshot:
        raise InputError(f"--snapshot: expected a crawl name like CC-MAIN-2024-10, got {snapshot!r}")
    return join_base(base_url, f"crawl-data/{snapshot}/warc.paths.gz")


def resolve_inputs(values: list[str], base_url: str, allow_foreign: bool = False, limit: int | None = None,
                   policy=None) -> ResolvedInputs:
    """The input files, each once, in order. limit: stop at the first `limit` files (a listing is read no further
    than its entry that makes them up). policy: how a listing over the network is read (stages/remote_io.py)."""
    files: list[str] = []
    refused: list[dict] = []
    seen: set[str] = set()

    def add(path: str) -> bool:
        """Adds a file; True once `limit` files are there."""
        if path not in seen:
            seen.add(path)
            files.append(path)
        return limit is not None and len(files) >= limit

    for value in values:
        if limit is not None and len(files) >= limit:
            break
        if is_listing(value):
            with closing(iter_listing(value, base_url, allow_foreign, policy)) as entries:
                for kind, item in entries:
                    if kind == "refused":
                        refused.append(item)
                    elif add(item):
                        break  # the listing is closed here: nothing after this entry is read
            continue
        found: list[str]
        if _has_glob(value):
            fs, _, _ = fsspec.get_fs_token_paths(value)
            matches = sorted(p for p in fs.glob(value) if fs.isfile(p))
            if not matches:
                raise InputError(f"no file matches {value}")
            protocol = value.split("://", 1)[0] + "://" if "://" in value else ""
            found = [m if "://" in m or not protocol else protocol + m for m in matches]
        elif "://" not in value and os.path.isdir(value):
            found = sorted(
                os.path.join(root, name) for root, _, names in os.walk(value) for name in names if not name.startswith(".")
            )
            if not found:
                raise InputError(f"folder {value} holds no files")
        elif "://" not in value and not os.path.exists(value):
            raise InputError(f"input not found: {value}")
        else:
            found = [value]
        for path in found:
            if add(path):
                break
    unique = files
    if not unique:
        raise InputError("no input files" + (f" ({len(refused)} listing entries refused: they lead out of the base "
                                              f"{base_url}; --allow-foreign-entries reads them)" if refused else ""))
    return ResolvedInputs(unique, refused)
