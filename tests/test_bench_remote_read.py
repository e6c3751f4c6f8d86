from conftest import run_bench, shared_path


def test_remote_read_bench_prints_its_table():
    shared_path("warc", "cc")
    out = run_bench("remote_read.py", "--repeat", "1")
    assert "vs fsspec" in out and "flaky" in out and "records" in out
