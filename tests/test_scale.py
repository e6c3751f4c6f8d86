"""Scale-out paths: a Common Crawl snapshot listing, the Slurm executor (against a fake `sbatch` that runs the
submitted scripts locally in dependency order) and the Ray executor (a real local Ray), each giving the same
curated data as the local executor."""

import gzip
import json
import os
import stat
import sys

import pytest
import yaml

from conftest import ROOT, refinery, stats_json
from test_determinism import fingerprint, split_warc

SMALL = {
    "stages": {"read": {}, "url_filter": {}, "extract": {}, "language": {}, "gopher_quality": {}, "minhash_dedup": {},
               "pii": {}, "tokenizer": {"vocab_size": 600, "sample_chars": 200000}, "shards": {"val_fraction": 0.1}},
}


def write_config(tmp_path, name, **executor) -> str:
    cfg = json.loads(json.dumps(SMALL))
    cfg["executor"] = {"tasks": 2, "workers": 2, **executor}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    from pipeline.sample_data import write_sample

    base = tmp_path_factory.mktemp("scale")
    return split_warc(write_sample(str(base / "sample")), str(base), 3)


@pytest.fixture(scope="module")
def local_run(parts, tmp_path_factory):
    base = tmp_path_factory.mktemp("local")
    out = str(base / "run")
    refinery("run", write_config(base, "local"), "--input", *parts, "--output", out)
    return out


def test_snapshot_listing_under_a_local_base(parts, tmp_path):
    base = tmp_path / "commoncrawl"
    entries = []
    for i, part in enumerate(parts):
        entry = f"crawl-data/CC-MAIN-2099-01/segments/1/warc/CC-MAIN-2099-01-{i:05d}.warc.gz"
        os.makedirs(base / os.path.dirname(entry), exist_ok=True)
        os.symlink(part, base / entry)
        entries.append(entry)
    listing = base / "crawl-data" / "CC-MAIN-2099-01" / "warc.paths.gz"
    listing.write_bytes(gzip.compress(("\n".join(entries) + "\n").encode()))
    out = str(tmp_path / "run")
    refinery("run", write_config(tmp_path, "snap"), "--snapshot", "CC-MAIN-2099-01", "--base-url", str(base),
             "--limit-files", "2", "--output", out)
    with open(os.path.join(out, "run.json")) as f:
        inputs = json.load(f)["inputs"]
    assert inputs == [str(base / e) for e in entries[:2]]  # the listing's first two files, resolved under the base
    import pyarrow.parquet as pq

    dumps = {d for p in os.listdir(os.path.join(out, "documents")) for d in
             pq.read_table(os.path.join(out, "documents", p), columns=["dump"]).column("dump").to_pylist()}
    # files without a warcinfo naming their crawl take it from their path (the first part's warcinfo names the sample)
    assert "CC-MAIN-2099-01" in dumps and dumps <= {"CC-MAIN-2099-01", "REFINERY-SAMPLE"}
    proc = refinery("run", write_config(tmp_path, "snap"), "--snapshot", "CC-MAIN-2099-02", "--base-url", str(base),
                    "--output", str(tmp_path / "missing"), check=False)
    assert proc.returncode == 2 and "cannot read listing" in proc.stderr


FAKE_SBATCH = r'''#!{python}
"""Fake sbatch: records each submitted script, then runs it at once (every array index, with Slurm's variables)
if its dependencies succeeded: submissions come in dependency order, so that is dependency order."""
import json, os, re, subprocess, sys
spool = os.environ["FAKE_SLURM_SPOOL"]
os.makedirs(spool, exist_ok=True)
db = os.path.join(spool, "jobs.json")
jobs = json.load(open(db)) if os.path.exists(db) else []
args, script = sys.argv[1:-1], sys.argv[-1]
text = open(script).read()
job_id = 1000 + len(jobs)
given = [a.split("=", 1)[1] for a in args if a.startswith("--dependency=")]
given += re.findall(r"^#SBATCH --dependency=(\S+)", text, re.M)
deps = [d for g in given for d in g.split(",")]
done = {{j["id"]: j["state"] for j in jobs}}
ok = all(done.get(int(d.split(":")[1])) == "COMPLETED" if d.startswith("afterok") else int(d.split(":")[1]) in done
         for d in deps)
m = re.search(r"#SBATCH --array=(\d+)-(\d+)", text)
indices = range(int(m.group(1)), int(m.group(2)) + 1) if m else [0]
name = re.search(r"#SBATCH --job-name=(\S+)", text).group(1)
with open(os.path.join(spool, f"job-{{job_id}}.sh"), "w") as f:
    f.write(text)
state = "PENDING_FOREVER"
if ok and not os.environ.get("FAKE_SLURM_HOLD"):  # held: queued until the test cancels it
    state = "COMPLETED"
    for i in indices:
        env = dict(os.environ, SLURM_JOB_ID=str(job_id), SLURM_ARRAY_JOB_ID=str(job_id), SLURM_ARRAY_TASK_ID=str(i),
                   SLURM_NODELIST="localhost", SLURM_NODEID="0")
        with open(os.path.join(spool, f"job-{{job_id}}-{{i}}.log"), "w") as log:
            if subprocess.run(["bash", script], env=env, stdout=log, stderr=subprocess.STDOUT).returncode:
                state = "FAILED"
jobs.append({{"id": job_id, "name": name, "deps": deps, "array": len(indices), "state": state,
             "merge_stats": "merge_stats" in text}})
json.dump(jobs, open(db, "w"))
print(f"Submitted batch job {{job_id}}")
'''

FAKE_SCONTROL = r'''#!{python}
import sys
assert sys.argv[1:3] == ["show", "hostnames"], sys.argv
print("\n".join(sys.argv[3].split(",")))
'''

FAKE_SRUN = r'''#!{python}
import os, sys
args = sys.argv[1:]
while args and args[0].startswith("-"):
    if args.pop(0) in ("-n", "-N"):
        args.pop(0)
os.execvp(args[0], args)
'''


FAKE_SQUEUE = r'''#!{python}
"""Fake squeue --noheader --format=%A: the jobs still in the queue (held ones)."""
import json, os
db = os.path.join(os.environ["FAKE_SLURM_SPOOL"], "jobs.json")
for j in (json.load(open(db)) if os.path.exists(db) else []):
    if j["state"] == "PENDING_FOREVER":
        print(j["id"])
'''


def fake_slurm(tmp_path) -> dict:
    """An environment whose sbatch, srun, scontrol and squeue are the fakes above."""
    bin_dir = tmp_path / "fake-slurm-bin"
    bin_dir.mkdir()
    for name, body in (("sbatch", FAKE_SBATCH), ("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL), ("squeue", FAKE_SQUEUE)):
        path = bin_dir / name
        path.write_text(body.format(python=sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    venv_bin = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=f"{bin_dir}:{venv_bin}:{os.environ['PATH']}", FAKE_SLURM_SPOOL=str(tmp_path / "spool"))
    env.pop("SLURM_ARRAY_TASK_ID", None)
    return env


def slurm_config(tmp_path) -> str:
    return write_config(tmp_path, "slurm", type="slurm",
                        slurm={"partition": "test", "time": "01:00:00", "job_name": "t", "env_command": f"cd {ROOT}"})


def test_slurm_jobs_chain_by_dependency_and_give_the_local_result(parts, local_run, tmp_path):
    env = fake_slurm(tmp_path)
    cfg = slurm_config(tmp_path)
    out = str(tmp_path / "run")
    proc = refinery("run", cfg, "--input", *parts, "--output", out, env=env)
    assert "submitted to Slurm" in proc.stdout

    jobs = json.load(open(tmp_path / "spool" / "jobs.json"))
    phases = [j for j in jobs if not j["merge_stats"]]
    assert [j["name"] for j in phases] == ["t-curate", "t-dedup_buckets", "t-dedup_clusters", "t-finalize", "t-tokenizer",
                                           "t-tokenize", "t-shards", "t-shards_manifest", "t-cleanup"]
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs
    assert len(jobs) == 2 * len(phases)  # and datatrove's stats-merging job after each phase
    # each phase waits for the one before it (afterok), so dedup never starts on half the signatures
    for before, after in zip(phases, phases[1:]):
        assert f"afterok:{before['id']}" in after["deps"], (before, after)
    # a task per input file (3), in executor.tasks (2) array jobs: one job runs two files one after another, each
    # with its own completion marker and stats (the funnel equals the local run's: no file counted twice)
    assert phases[0]["array"] == 2 and len(parts) == 3
    assert sorted(os.listdir(os.path.join(out, "logs", "curate", "completions"))) == ["00000", "00001", "00002"]
    assert fingerprint(out) == fingerprint(local_run)
    refinery("verify", out)


def test_a_resubmission_while_jobs_of_the_run_are_queued_is_refused(parts, local_run, tmp_path):
    # the folder lock covers the submitting process only; the run's jobs are checked in the queue instead
    env = fake_slurm(tmp_path)
    cfg = slurm_config(tmp_path)
    out = str(tmp_path / "run")
    proc = refinery("run", cfg, "--input", *parts, "--output", out, env={**env, "FAKE_SLURM_HOLD": "1"})
    assert "submitted to Slurm" in proc.stdout
    db = tmp_path / "spool" / "jobs.json"
    queued = [j["id"] for j in json.load(open(db)) if j["state"] == "PENDING_FOREVER"]
    proc = refinery("run", cfg, "--input", *parts, "--output", out, env=env, check=False)
    assert proc.returncode == 2 and "Slurm jobs still queued or running" in proc.stderr, proc.stderr
    assert str(queued[0]) in proc.stderr
    local = write_config(tmp_path, "local-same-folder")
    proc = refinery("run", local, "--input", *parts, "--output", out, "--overwrite", env=env, check=False)
    assert proc.returncode == 2 and "still queued or running" in proc.stderr  # nor another executor, nor --overwrite
    assert len(json.load(open(db))) == len(queued)  # nothing more was submitted
    # scancel: the queue forgets them, and the same command submits again and completes the run
    jobs = json.load(open(db))
    for j in jobs:
        j["state"] = "CANCELLED"
    json.dump(jobs, open(db, "w"))
    refinery("run", cfg, "--input", *parts, "--output", out, env=env)
    assert fingerprint(out) == fingerprint(local_run)


def test_ray_executor_gives_the_local_result(parts, local_run, tmp_path):
    pytest.importorskip("ray")
    cfg = write_config(tmp_path, "ray", type="ray", ray={"cpus_per_task": 1})
    out = str(tmp_path / "run")
    proc = refinery("run", cfg, "--input", *parts, "--output", out, timeout=900)
    assert "(ray executor)" in proc.stdout
    assert fingerprint(out) == fingerprint(local_run)
    assert stats_json(out)["stages"][0]["in"] == stats_json(local_run)["stages"][0]["in"]


def test_slurm_array_jobs_follow_executor_tasks(tmp_path):
    """A phase has a task per input file; executor.tasks is how many array jobs run them: each job runs
    ceil(files / tasks) of them (datatrove's tasks_per_job), never more jobs than executor.tasks."""
    import math

    from pipeline.executors import SLURM_DEFAULTS, make_executor

    options = {**SLURM_DEFAULTS, "partition": "test"}
    for files, jobs, per_job in ((90000, 1000, 90), (3, 2, 2), (5, 10, 1), (7, 7, 1), (1, 4, 1)):
        executor = make_executor("slurm", options, [], files, 8, str(tmp_path / f"logs-{files}-{jobs}"), "curate",
                                 jobs=jobs)
        assert (executor.world_size, executor.tasks_per_job) == (files, per_job)
        assert math.ceil(files / executor.tasks_per_job) <= jobs


def test_slurm_executor_gives_each_rank_of_a_job_its_own_stats(tmp_path, monkeypatch):
    """An array job runs its ranks (tasks_per_job) one after another in one process: each rank's stats file counts
    that rank only (datatrove's own executor reuses the steps, whose stats would add up)."""
    from datatrove.pipeline.base import PipelineStep

    class Count(PipelineStep):
        name = "count"

        def run(self, data, rank: int = 0, world_size: int = 1):
            for _ in range(rank + 1):
                self.stat_update("seen")
            yield from ()

    from stages.compat import SlurmExecutor

    monkeypatch.setenv("PATH", fake_slurm(tmp_path)["PATH"])  # scontrol, for datatrove's node list
    monkeypatch.setenv("SLURM_NODELIST", "localhost")
    logs = tmp_path / "logs"
    executor = SlurmExecutor(pipeline=[Count()], tasks=2, tasks_per_job=2, time="1:00:00", partition="test",
                             logging_dir=str(logs))
    logs.mkdir()
    with open(logs / "ranks_to_run.json", "w") as f:
        json.dump([0, 1], f)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "0")  # inside array job 0, as the job's launch script runs it
    executor.run()
    seen = []
    for rank in (0, 1):
        with open(logs / "stats" / f"{rank:05d}.json") as f:
            seen.append(json.load(f)[0]["stats"]["seen"])
    assert seen == [1, 2], f"stages.compat.SlurmExecutor: the ranks of one job share their stats ({seen})"
