"""`cairn.tune` with a scheduler on a Ray cluster reached as `ray://`: the trials run in the
cluster's workers, not in this process's Ray, and the pruner's answers reach them.

The test starts a Ray head of its own (`ray start --head --block`, its own temp dir, in a
session of its own) and stops exactly it: SIGTERM to that `ray start`, which stops what it
started, then SIGKILL to its process group for anything left. The search runs in a child
interpreter, since a process is either a Ray client or in a local Ray (other tests of the
session may have started one).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import cairn
from cairn.states import RunStatus, TrialState
from tests.conftest import ROOT, _free_port
from tests.tuning.test_decisions import machine_address

pytestmark = [pytest.mark.ray, pytest.mark.timeout(400)]

SEARCH = """
import json, sys
import ray
import cairn
from cairn.tuning.decisions import listen_address
from tests.tuning.objectives import quadratic


def connect(url):
    # Ray's client proxy sometimes fails to start the server of a new client on this machine
    # ("Starting Ray client server failed"); a new connection gets a new one.
    for attempt in range(3):
        try:
            return ray.init(url)
        except ConnectionError as exc:
            print(f"ray client attempt {attempt}: {exc}", file=sys.stderr)
            ray.shutdown()
    raise SystemExit("could not connect to the Ray head")


studies = {}
for name, url in json.loads(sys.argv[1]).items():
    connect(url)  # cairn.executor(url) joins this connection
    with cairn.executor(url) as ex:
        result = cairn.tune(
            quadratic, {"x": cairn.uniform(0, 1)}, "score", "max", n_trials=20, executor=ex,
            scheduler="asha", sampler="random", seed=7, name=name, progress=False,
        )
    ray.shutdown()
    studies[name] = {"listened": listen_address(url)[0], "pruned": result.count("pruned")}
print(json.dumps(studies))
"""
# Token authentication is on by default once ~/.ray holds a token, and a Ray client does
# not pick the token up by itself: the test's own head and client run without it.
RAY_ENV = {"RAY_AUTH_MODE": "disabled"}


@pytest.fixture
def ray_head() -> Iterator[tuple[str, int]]:
    """A Ray head of this test's own: its node address and its Ray client port."""
    node = machine_address()
    port, client_port = _free_port(), _free_port()
    temp = tempfile.mkdtemp(prefix="cairn-ray-")  # short: Ray's socket paths must stay short
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_ENV, PYTHONPATH=str(ROOT))  # its workers import the tests' objectives
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
         f"--node-ip-address={node}", f"--port={port}", f"--ray-client-server-port={client_port}",
         "--num-cpus=2", "--disable-usage-stats", "--include-dashboard=false",
         f"--temp-dir={temp}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    started = threading.Event()
    output: list[str] = []

    def drain() -> None:  # read all it prints, or it blocks on a full pipe
        for line in head.stdout:
            output.append(line)
            if "Ray runtime started" in line:
                started.set()
        started.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        assert started.wait(180) and head.poll() is None, "".join(output)
        yield node, client_port
    finally:
        head.terminate()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # whatever of its group outlived it
        shutil.rmtree(temp, ignore_errors=True)


def test_a_scheduler_prunes_trials_running_on_a_remote_ray_cluster(
    workspace: Path, ray_head: tuple[str, int]
) -> None:
    node, client_port = ray_head
    urls = {"loopback": f"ray://127.0.0.1:{client_port}", "routed": f"ray://{node}:{client_port}"}
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # no other Ray
    done = subprocess.run(
        [sys.executable, "-c", SEARCH, json.dumps(urls)],
        capture_output=True, text=True, cwd=workspace, timeout=300,
        env={**env, **RAY_ENV, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    studies = json.loads(done.stdout.strip().splitlines()[-1])
    # The head on this machine is reached over loopback; through its node address, the
    # tuner listens on that address, the one a worker on another machine would reach.
    assert studies["loopback"]["listened"] == "127.0.0.1"
    assert studies["routed"]["listened"] == node
    for name in urls:
        result = cairn.tuning.load_result(cairn.get_store(), name)
        assert len(result.records) == 20
        pruned = [r for r in result.records if r.state is TrialState.PRUNED]
        assert pruned and len(pruned) == studies[name]["pruned"], name
        assert result.count(TrialState.COMPLETED) + len(pruned) == 20
        for record in pruned:
            run = cairn.get_run(record.run_id)
            assert run.status == RunStatus.PRUNED
            assert len(run.metric_history("score")) < 8  # stopped before the end of its curve
