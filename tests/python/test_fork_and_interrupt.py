"""Process-level safety of the thread pool: a child created by fork() after a multi-threaded
call computes (instead of hanging in OpenMP's lost pool).

Each scenario runs in its own Python process, under a timeout, so a regression fails the
test instead of hanging the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys

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
