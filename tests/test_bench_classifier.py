"""Smoke tests of bench/classifier_speed.py (both types): the --tiny run ends cleanly, prints its table and ratio lines, and the
stage's scores equal fastText's own on the same texts."""

from conftest import run_bench


def test_classifier_speed_tiny():
    out = run_bench("classifier_speed.py", "--tiny", timeout=120)
    for needle in ("docs/s per core", "ratio refinery/direct time: ", "ratio refinery/direct, batched time: ",
                   "scores identical (refinery vs direct, batched): yes"):
        assert needle in out, (needle, out)


def test_classifier_speed_tiny_transformers():
    out = run_bench("classifier_speed.py", "--type", "transformers", "--tiny", timeout=180)
    for needle in ("docs/s per core", "ratio refinery/direct time: ", "scores equal (refinery vs direct): yes"):
        assert needle in out, (needle, out)
