"""Stage `url_filter`: datatrove's URLFilter with its bundled block lists, made safe offline."""

from datatrove.data import Document
from datatrove.pipeline.filters.url_filter import URLFilter

from stages.base import Drop, RefineryStage


class URLFilterStage(RefineryStage):
    name = "url_filter"

    def __init__(self, output=None, **params):
        super().__init__(output)
        from tldextract import TLDExtract

        self.inner = URLFilter(**params)
        # datatrove builds TLDExtract() which fetches the public suffix list on first use and stalls for
        # minutes offline; the snapshot bundled with tldextract is what we use instead
        self.inner.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)

    def process(self, doc: Document) -> Drop | None:
        if not doc.metadata.get("url"):
            return None  # nothing to judge; datatrove would assert here
        result = self.inner.filter(doc)
        if result is True:
            return None
        _, reason = result
        return Drop(reason, detail=doc.metadata["url"][:300])
