"""Process-level safety of the thread pool: a child created by fork() after a multi-threaded
call computes (instead of hanging in OpenMP's lost pool), and Ctrl-C stops a long call.

Each scenario runs in its own Python process, under a timeout, so a regression fails the
test instead of hanging the suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

needs_two_cpus = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                    reason="a multi-threaded call needs two CPUs")

FORK_AFTER_A_THREADED_CALL = """
import multiprocessing
import os
import signal
import time
import numpy as np
import fastloss
import fastloss.functional as F

x = np.random.default_rng(0).standard_normal(1 << 22).astype(np.float32)  # 512 chunks

def loss():
    return F.mse_loss(x, 0.5 * x)

tasks = len(os.listdir("/proc/self/task"))
fastloss.set_num_threads(2)
expected = loss()
print("pool started", len(os.listdir("/proc/self/task")) > tasks)

def child_matches():
    fastloss.set_num_threads(4)  # accepted; kernels stay on one thread in a forked child
    return loss() == expected and loss() == expected

def exit_code(pid, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "hung"

pid = os.fork()
if pid == 0:
    os._exit(0 if child_matches() else 1)
print("os.fork", exit_code(pid))

def report(connection):
    connection.send(child_matches())

context = multiprocessing.get_context("fork")
receiver, sender = context.Pipe(duplex=False)
worker = context.Process(target=report, args=(sender,))
worker.start()
print("multiprocessing fork", receiver.recv() if receiver.poll(30) else "hung")
worker.kill()
worker.join()
"""


@needs_two_cpus
def test_a_forked_child_computes_after_a_multithreaded_call():
    result = subprocess.run([sys.executable, "-c", FORK_AFTER_A_THREADED_CALL],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "pool started True",
        "os.fork 0",
        "multiprocessing fork True",
    ], result.stderr


# A call of several seconds (2^31 elements: broadcast copies of one row, so no memory),
# interrupted by the parent's SIGINT; then what the interrupted call left behind. With
# "busy", another Python thread keeps the GIL busy all along.
LONG_CALL = """
import os
import sys
import threading
import time
import numpy as np
import fastloss
import fastloss.functional as F

def run_bytecode():
    while True:
        pass

fastloss.set_num_threads(int(sys.argv[1]))
if sys.argv[2] == "busy":
    threading.Thread(target=run_bytecode, daemon=True).start()
rng = np.random.default_rng(0)
row = rng.standard_normal(4096).astype(np.float32)
row_before = row.copy()
target = (rng.random(4096) > 0.5).astype(np.float32)

def loss(rows):
    x = np.broadcast_to(row, (rows, row.size))
    return F.sigmoid_focal_loss(x, np.broadcast_to(target, x.shape), gamma=1.5, reduction="sum")

def tasks():
    return len(os.listdir("/proc/self/task"))

expected = loss(1024)  # a normal call first: OpenMP's idle pool is part of the baseline
tasks_after_a_normal_call = tasks()
references = sys.getrefcount(row)
print("ready", flush=True)
try:
    loss(1 << 19)
    print("finished", time.monotonic())
except KeyboardInterrupt:
    print("interrupted", time.monotonic(), flush=True)
print("extra threads", tasks() - tasks_after_a_normal_call)
print("extra references", sys.getrefcount(row) - references)
print("input unchanged", np.array_equal(row, row_before))
print("computes", loss(1024) == expected)
"""


@pytest.mark.parametrize("threads, other_python_thread", [(1, "idle"), (2, "idle"), (2, "busy")])
def test_ctrl_c_stops_a_long_call(threads, other_python_thread):
    child = subprocess.Popen([sys.executable, "-c", LONG_CALL, str(threads), other_python_thread],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n", child.stderr.read()
        time.sleep(0.5)  # well inside the call
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
        child.wait()
    report = dict(line.rsplit(" ", 1) for line in out.splitlines())
    assert "interrupted" in report, (out, err)
    latency = float(report["interrupted"]) - sent
    print(f"KeyboardInterrupt {1e3 * latency:.0f} ms after SIGINT "
          f"({threads} threads, other Python thread {other_python_thread})")
    assert latency < 0.5  # generous for a loaded CI machine; typically a few tens of ms
    assert report == {"interrupted": report["interrupted"], "extra threads": "0",
                      "extra references": "0", "input unchanged": "True", "computes": "True"}, err
