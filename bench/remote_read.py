"""What the retrying reader (stages/remote_io.py) costs and what it saves, on the real WARCs served over loopback.

Reads every file of --data (default ../shared/data/warc/{cc,other-real}) through the read stage over HTTP three
ways, each from a fresh server, and prints records/s as a ratio of the first:
  fsspec     fsspec's HTTP file (what refinery used before: no retry)
  retrying   refinery's reader, a server that never fails
  flaky      refinery's reader, a server that fails 6 requests in 10 (503, 429, 500, a stall past the timeout,
             bodies cut or reset after half; tests/test_remote_input.py's cycle): the records must be the same
and, once, fsspec's file on the flaky server: how many of the records it gets (no retry, so few or none)
Run from the repository root: python bench/remote_read.py [--repeat 3] [--timeout 0.25]
"""

import argparse
import glob
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))


def read_all(urls, open_with=None, policy=None):
    from stages.read import WarcReadStage

    records = []
    for url in urls:
        stage = WarcReadStage([url], retry=policy)
        if open_with is not None:
            stage.open_input = open_with
        errors = []
        records.extend((d.id, d.text, v) for d, v in stage.read_file(url, errors))
    return records


def main():
    import fsspec

    from stages.remote_io import RetryPolicy
    from test_remote_input import FLAKY, FlakyServer

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "warc"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--timeout", type=float, default=0.25, help="the reader's timeout (the server stalls 0.8 s)")
    args = p.parse_args()
    files = sorted(f for d in ("cc", "other-real") for f in glob.glob(os.path.join(args.data, d, "*.warc.gz")))
    if not files:
        sys.exit(f"no WARC files under {args.data}/cc or /other-real")
    relative = [os.path.relpath(f, args.data) for f in files]
    policy = RetryPolicy(retries=10, timeout_s=args.timeout, backoff_s=0.01)
    ways = {
        "fsspec": (("ok",), lambda path: fsspec.open(path, "rb")),
        "retrying": (("ok",), None),
        "flaky": (FLAKY, None),
    }
    times, counts, reference = {w: [] for w in ways}, {}, None
    for _ in range(args.repeat):
        for way, (faults, opener) in ways.items():
            with FlakyServer(args.data, faults) as server:
                urls = [server.url(r) for r in relative]
                start = time.perf_counter()
                records = read_all(urls, opener, policy)
                times[way].append(time.perf_counter() - start)
                requests = sum(server.counts.values())
            reference = reference or records
            assert records == reference, f"{way}: not the records of the first read"
            counts[way] = (len(records), requests)
    with FlakyServer(args.data, FLAKY) as server:
        lost = read_all([server.url(r) for r in relative], ways["fsspec"][1], policy)
    base = statistics.median(times["fsspec"])
    print(f"{len(files)} files, {sum(os.path.getsize(f) for f in files) / 1e6:.1f} MB, {len(reference)} records; "
          f"median of {args.repeat}")
    print(f"{'reader':<10} {'seconds':>8} {'records/s':>10} {'vs fsspec':>10} {'requests':>9}")
    for way in ways:
        t = statistics.median(times[way])
        print(f"{way:<10} {t:>8.2f} {counts[way][0] / t:>10.0f} {base / t:>9.2f}x {counts[way][1]:>9}")
    print(f"fsspec's file on the flaky server: {len(lost)} of {len(reference)} records read")


if __name__ == "__main__":
    main()
