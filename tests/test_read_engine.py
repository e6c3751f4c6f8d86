"""stages.read.engine: FastWARC and warcio give every record the same verdict, text and id, and every file the
same errors/ listing: on the generated malformed corpus (tests/malformed.py) and on the real archives of the
shared data. FastWARC frames the well-formed stretches; anything it cannot vouch for is read by warcio
(stages/fastwarc_io.py), so the two agree on every case, with no documented difference to assert."""

import glob
import os

import pytest

from conftest import ROOT
from malformed import build_corpus
from stages.read import ENGINES, ReadParams, WarcReadStage

SHARED_WARC = os.path.join(os.path.dirname(ROOT), "shared", "data", "warc")


def read(path: str, engine: str):
    errors = []
    records = [(d.id, d.metadata["url"], v.reason if v else "kept", v.detail if v else "", d.text, d.metadata.get("warc_offset"))
               for d, v in WarcReadStage([path], engine=engine).read_file(path, errors)]
    return records, errors


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(str(tmp_path_factory.mktemp("malformed")))


def test_engines_agree_on_every_malformed_case(corpus):
    for case in corpus:
        warcio_records, warcio_errors = read(case.files[0], "warcio")
        fast_records, fast_errors = read(case.files[0], "fastwarc")
        assert fast_records == warcio_records, case.name
        assert fast_errors == warcio_errors, case.name
        # and the outcome is the documented one (test_malformed checks it in depth under the default engine)
        got = {url: reason for _, url, reason, *_ in fast_records}
        assert {u: o for u, o in got.items() if u in case.outcome} == {u: o for u, o in case.outcome.items() if o != "lost"}, case.name
        assert bool(fast_errors) == case.listed, case.name


def _real_archives():
    return sorted(p for p in glob.glob(os.path.join(SHARED_WARC, "**", "*"), recursive=True) if os.path.isfile(p))


@pytest.mark.skipif(not _real_archives(), reason="no shared WARC data on this machine")
@pytest.mark.parametrize("path", _real_archives(), ids=lambda p: os.path.relpath(p, SHARED_WARC))
def test_engines_agree_on_real_archives(path):
    warcio_records, warcio_errors = read(path, "warcio")
    fast_records, fast_errors = read(path, "fastwarc")
    assert fast_records == warcio_records
    assert fast_errors == warcio_errors


def test_fastwarc_reads_well_formed_files_itself(corpus):
    # the hand-over to warcio must stay the exception: in a well-formed file warcio reads only the last record
    import stages.read as read_module

    path = next(c.files[0] for c in corpus if c.name == "bad_payloads.warc.gz")
    taken = []
    original = read_module.WarcReadStage._records

    def counting(self, iterator, path, state, **kw):
        for item in original(self, iterator, path, state, **kw):
            taken.append(item)
            yield item

    stage = WarcReadStage([path], engine="fastwarc")
    stage._records = counting.__get__(stage)
    results = list(stage.read_file(path, []))
    assert len(results) == 18 and len(taken) == 1


def test_engine_is_a_checked_key():
    assert ReadParams().engine in ENGINES
    with pytest.raises(ValueError):
        WarcReadStage([], engine="jwarc")
