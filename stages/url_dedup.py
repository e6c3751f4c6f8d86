"""Stage `url_dedup`: one document per normalised URL across the run.

URL normalisation, rule by rule (the same page reached by two spellings counts once):
  scheme      lower-cased, and http and https are the same page (the scheme is left out of the key)
  user:pass@  left out
  host        lower-cased, a trailing dot removed, a leading `www.` removed
  port        the default one (80 for http, 443 for https) removed; any other kept
  path        case kept (servers are case-sensitive); empty means `/`; a trailing `/` removed (but for `/` itself)
  fragment    removed (`#...` never reaches the server)
  query       tracking parameters removed (utm_*, fbclid, gclid, dclid, gbraid, wbraid, msclkid, yclid, mc_cid,
              mc_eid, igshid, _hsenc, _hsmi, mkt_tok), the others sorted by name then value (blank values kept);
              an empty query is no query
Keeper: the latest crawl date (WARC-Date; a document without one loses to any with one), then the smallest id.
A document without a URL is kept. Removed: `duplicate_url`, detail the kept id.
"""

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

import xxhash

from stages.key_dedup import KeyDedupStage, KeyFiles, KeyMergeStep, KeyStep, work_dir

TRACKING = frozenset({"fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "mc_cid", "mc_eid", "igshid",
                      "_hsenc", "_hsmi", "mkt_tok"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_url(url: str) -> str | None:
    """The URL's key text (see the module's rules), or None for no URL."""
    if not url or not url.strip():
        return None
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = parts.path or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not k.lower().startswith("utm_") and k.lower() not in TRACKING)
    return f"{netloc}{path}" + (f"?{urlencode(query)}" if query else "")


def url_key(doc) -> int | None:
    text = normalise_url(doc.metadata.get("url"))
    return None if text is None else xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass"))


@dataclass
class URLDedupParams:
    pass


class URLDedupStage(KeyDedupStage):
    name = "url_dedup"
    order = 76
    summary = ("one document per normalised URL (http = https, host case, www., default port, trailing /, fragment, "
               "query order, tracking parameters) across all tasks; the latest crawl kept, then the smallest id")
    Params = URLDedupParams
    reasons = ("duplicate_url",)
    preflight_label = "url_dedup (xxhash)"

    @classmethod
    def preflight(cls, params):
        import xxhash  # noqa: F401

    @classmethod
    def build(cls, params, ctx):
        work = work_dir(ctx.layout, cls.name)
        files = KeyFiles(os.path.join(work, "keys"), work)
        ctx.add("curate", cls.order, KeyStep(cls.name, files, url_key, with_date=True))
        ctx.add_phase("dedup_keys", rank=15, tasks=1)
        ctx.add("dedup_keys", cls.order, KeyMergeStep(
            cls.name, files, ctx.tasks, "duplicate_url", "same URL as",
            [("date", "descending"), ("doc_id", "ascending"), ("task", "ascending"), ("index", "ascending")]))
        ctx.add("finalize", cls.order, cls(files, output=ctx.output))
