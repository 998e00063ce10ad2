"""A command in a process group of its own: its lines relayed as they come, and the whole group stopped (SIGTERM,
then SIGKILL after a grace period) when its time is spent or the caller is interrupted. An isolated run's child
(``benchmarks.run.isolation``) and a gpu-check phase (``benchmarks.commands.gpu_check``) both run this way."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable

GRACE_SECONDS = 10  # after SIGTERM, before SIGKILL: a run's handler ends the step it is in and exits


def stop(process: subprocess.Popen, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM to the process group, SIGKILL if it is still there after ``grace`` seconds; then reap it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def run(command: list[str], on_line: Callable[[str], None], timeout: float | None = None, env: dict | None = None,
        on_start: Callable[[int], None] | None = None, grace: float = GRACE_SECONDS) -> tuple[int | None, float]:  # fmt: skip
    """Run ``command``, every line of its output (stdout and stderr together) to ``on_line``; (its exit status, or
    None when it was stopped after ``timeout`` seconds; the seconds it ran). Ctrl-C or SIGTERM to the caller stops
    the group first, then propagates."""
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**(env or os.environ), "PYTHONUNBUFFERED": "1"}, start_new_session=True)  # fmt: skip
    if on_start:
        on_start(process.pid)
    reader = threading.Thread(target=lambda: [on_line(line.rstrip("\n")) for line in process.stdout], daemon=True)
    reader.start()
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process, grace)
        code = None
    except BaseException:  # Ctrl-C, SIGTERM: the group goes first, then the caller
        stop(process, grace)
        raise
    reader.join(timeout=5)
    return code, time.monotonic() - start
