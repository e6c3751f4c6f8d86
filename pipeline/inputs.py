"""Turning `--input` values into the list of archive files a run reads.

A value is a local path or any fsspec URL (s3://, https://, ...); a glob (expanded here, so quote it in the
shell); a folder (every file under it); or a Common Crawl listing (`warc.paths.gz`, one path per line),
whose relative entries resolve against the base URL (https://data.commoncrawl.org/ by default, or a local
folder). A listing is data from elsewhere: an entry that leads out of the base (its own scheme or host, an
absolute path, `..`) is refused and listed in errors/ unless the user allows foreign entries.
"""

import gzip
import os
import posixpath
from dataclasses import dataclass, field
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


def read_listing(value: str, base_url: str, allow_foreign: bool = False) -> ResolvedInputs:
    try:
        with fsspec.open(value, "rb") as f:
            data = f.read()
    except (FileNotFoundError, OSError) as e:
        raise InputError(f"cannot read listing {value}: {type(e).__name__}: {e.strerror or 'unreadable'}") from None
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    resolved = ResolvedInputs([])
    for line in data.decode("utf-8", "replace").splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        target = join_base(base_url, entry)
        if allow_foreign or within_base(base_url, target):
            resolved.files.append(target)
        else:
            resolved.refused.append({
                "file": printable(entry), "listing": printable(value), "records_read": 0,
                "error": f"listing entry leads out of the base {printable(base_url)}: refused, not read "
                         f"(--allow-foreign-entries reads such entries)"})
    return resolved


def snapshot_listing(snapshot: str, base_url: str) -> str:
    """Where Common Crawl keeps a snapshot's list of WARC files: {base}/crawl-data/{SNAPSHOT}/warc.paths.gz."""
    if not snapshot or "/" in snapshot or snapshot.strip() != snapshot:
        raise InputError(f"--snapshot: expected a crawl name like CC-MAIN-2024-10, got {snapshot!r}")
    return join_base(base_url, f"crawl-data/{snapshot}/warc.paths.gz")


def resolve_inputs(values: list[str], base_url: str, allow_foreign: bool = False) -> ResolvedInputs:
    files: list[str] = []
    refused: list[dict] = []
    for value in values:
        if is_listing(value):
            listing = read_listing(value, base_url, allow_foreign)
            files.extend(listing.files)
            refused.extend(listing.refused)
        elif _has_glob(value):
            fs, _, _ = fsspec.get_fs_token_paths(value)
            matches = sorted(p for p in fs.glob(value) if fs.isfile(p))
            if not matches:
                raise InputError(f"no file matches {value}")
            protocol = value.split("://", 1)[0] + "://" if "://" in value else ""
            files.extend(m if "://" in m or not protocol else protocol + m for m in matches)
        elif "://" not in value and os.path.isdir(value):
            found = sorted(
                os.path.join(root, name) for root, _, names in os.walk(value) for name in names if not name.startswith(".")
            )
            if not found:
                raise InputError(f"folder {value} holds no files")
            files.extend(found)
        elif "://" not in value and not os.path.exists(value):
            raise InputError(f"input not found: {value}")
        else:
            files.append(value)
    seen = set()
    unique = [f for f in files if not (f in seen or seen.add(f))]
    if not unique:
        raise InputError("no input files" + (f" ({len(refused)} listing entries refused: they lead out of the base "
                                              f"{base_url}; --allow-foreign-entries reads them)" if refused else ""))
    return ResolvedInputs(unique, refused)
