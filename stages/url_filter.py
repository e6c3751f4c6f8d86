"""Stage `url_filter`: datatrove's URLFilter with its bundled block lists, made safe offline and cheap to start.

datatrove loads its 4.5 million block-listed domains into a Python set in every task: about 5 s and several
hundred MB per process before the first URL. Here each list becomes, once per machine, a sorted array of 64-bit
hashes cached next to datatrove's extracted lists and memory-mapped by every task (36 MB, shared, milliseconds
to open). Membership answers are datatrove's, except that a URL whose hash collides with a listed one would be
dropped too: with 4.5 million entries that is about one chance in 4 * 10^12 per URL.
"""

import os
from dataclasses import dataclass

import numpy as np
import xxhash
from datatrove.data import Document
from datatrove.pipeline.filters.url_filter import URLFilter

from stages.base import Drop, RefineryStage
from stages.compat import OfflineURLFilter
from stages.registry import key
from refinery.atomic import atomic_path


def _hash(s: str) -> int:
    return xxhash.xxh64_intdigest(s.encode("utf-8", "surrogatepass"))


class HashedList:
    """`x in HashedList(path)` == `x in datatrove.get_list(path, do_normalize=False)`, from a cached hash array."""

    def __init__(self, path: str, extra: set | None = None):
        self.hashes = np.load(self.cache(path), mmap_mode="r")
        self.extra = set(extra or ())

    @staticmethod
    def cache(path: str) -> str:
        st = os.stat(path)
        cached = f"{path}.{st.st_size}-{int(st.st_mtime)}.xxh64.npy"
        if not os.path.exists(cached):
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                # datatrove's parse_list(do_normalize=False): every line not starting with '#', stripped
                hashes = np.fromiter((_hash(line.strip()) for line in f if line[0] != "#"), dtype=np.uint64)
            # workers building at once each write whole files; the last rename wins
            with atomic_path(cached, "block-list cache") as tmp, open(tmp, "wb") as out:
                np.save(out, np.unique(hashes))
        return cached

    def __contains__(self, item) -> bool:
        if item in self.extra:
            return True
        if not isinstance(item, str):
            return False
        h = np.uint64(_hash(item))
        i = int(np.searchsorted(self.hashes, h))
        return i < len(self.hashes) and self.hashes[i] == h

    def __len__(self) -> int:
        return len(self.hashes) + len(self.extra)


class HashedListURLFilter(OfflineURLFilter):
    """datatrove's URLFilter, offline, with its two big lists (domains, URLs) as HashedLists; the three word lists
    are small and loaded as datatrove does."""

    def big_list(self, path: str, extra: set):
        return HashedList(path, extra)


@dataclass
class URLFilterParams:
    use_integrated_lists: bool = key(True, help="datatrove's bundled domain, URL and word block lists")
    soft_word_threshold: int = key(2, min=0, help="drop when this many soft-banned words are in the URL")
    # datatrove's None for the lists means empty: [] reads the same in YAML
    extra_domains: list[str] = key([], help="your own additions to the domain list")
    extra_urls: list[str] = key([], help="your own additions to the URL list")
    banned_words: list[str] = key([], help="your own additions to the banned words")
    banned_subwords: list[str] = key([], help="your own additions to the banned subwords")
    soft_banned_words: list[str] = key([], help="your own additions to the soft-banned words")


class URLFilterStage(RefineryStage):
    name = "url_filter"
    order = 10
    summary = "datatrove URLFilter, bundled block lists, offline suffix list"
    Params = URLFilterParams
    reasons = ("domain", "subdomain", "url", "hard_blacklisted", "soft_blacklisted", "blacklisted_subword")
    mirrors = URLFilter
    departures = {k: "[] for datatrove's None (no additions)" for k in
                  ("extra_domains", "extra_urls", "banned_words", "banned_subwords", "soft_banned_words")}
    preflight_label = "url_filter (tldextract, pyahocorasick)"

    @classmethod
    def preflight(cls, params):
        import ahocorasick  # noqa: F401

        from stages.compat import _process_tldextract

        # the process's own offline TLDExtract, which the stage then uses too: its suffix list is parsed once
        if _process_tldextract()("http://a.b.example.co.uk/").suffix != "co.uk":
            raise RuntimeError("tldextract's bundled suffix list is not usable")

    def __init__(self, output=None, **params):
        super().__init__(output)
        self.inner = HashedListURLFilter(**params)

    def process(self, doc: Document) -> Drop | None:
        if not doc.metadata.get("url"):
            return None  # nothing to judge; datatrove would assert here
        result = self.inner.filter(doc)
        if result is True:
            return None
        _, reason = result
        return Drop(reason, detail=doc.metadata["url"][:300])
