"""Turning `--input` values into the list of archive files a run reads.

A value is a local path or any fsspec URL (s3://, https://, ...); a glob (expanded here, so quote it in the
shell); a folder (every file under it); or a Common Crawl listing (`warc.paths.gz`, one path per line),
whose relative entries resolve against the base URL (https://data.commoncrawl.org/ by default, or a local
folder).
"""

import gzip
import os

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


def join_base(base: str, entry: str) -> str:
    if "://" in entry or os.path.isabs(entry):
        return entry
    return base.rstrip("/") + "/" + entry.lstrip("/")


def read_listing(value: str, base_url: str) -> list[str]:
    try:
        with fsspec.open(value, "rb") as f:
            data = f.read()
    except (FileNotFoundError, OSError) as e:
        raise InputError(f"cannot read listing {value}: {e}") from None
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    entries = [line.strip() for line in data.decode("utf-8").splitlines()]
    return [join_base(base_url, e) for e in entries if e and not e.startswith("#")]


def snapshot_listing(snapshot: str, base_url: str) -> str:
    """Where Common Crawl keeps a snapshot's list of WARC files: {base}/crawl-data/{SNAPSHOT}/warc.paths.gz."""
    if not snapshot or "/" in snapshot or snapshot.strip() != snapshot:
        raise InputError(f"--snapshot: expected a crawl name like CC-MAIN-2024-10, got {snapshot!r}")
    return join_base(base_url, f"crawl-data/{snapshot}/warc.paths.gz")


def resolve_inputs(values: list[str], base_url: str) -> list[str]:
    files: list[str] = []
    for value in values:
        if is_listing(value):
            files.extend(read_listing(value, base_url))
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
        raise InputError("no input files")
    return unique
