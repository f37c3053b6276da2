"""``conference serve --workers N``: N processes of one service sharing one listening socket.

The parent binds the socket, forks N workers (before any event loop or connection exists, so a worker
inherits nothing but the socket) and waits. The kernel spreads the accepted connections over the
workers. Each worker is a whole service instance: its own pools, its own relay and consumers. What makes
N instances safe is what makes N replicas safe (docs/operations.md): one relay per database publishes
(the PostgreSQL advisory lock, a file lock on SQLite; the others stand by), and the consumers of one
group share the topics' partitions.

A signal to the parent (SIGTERM, SIGINT) is passed once to every worker, which shuts down gracefully
(``shared.http.server``); the parent exits 0 when they all did. Workers have a process group of their
own, so a signal to the parent's group (Ctrl-C, ``kill -- -PGID``) reaches them once, through the
parent: a second signal would force their exit. On Linux a worker is killed if the parent dies (SIGKILL).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType


def _die_with_parent() -> None:
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_workers(workers: int, sock: socket.socket, serve: Callable[[socket.socket], None]) -> int:
    """Run ``serve(sock)`` in ``workers`` forked processes; the exit status: 0 when every worker exited 0."""
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker: serve, then leave without running the parent's cleanup
            status = 1
            try:
                os.setpgid(0, 0)
                _die_with_parent()
                serve(sock)
                status = 0
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        children.append(pid)
    sock.close()  # the workers hold it

    def forward(sig: int, _frame: FrameType | None) -> None:
        for child in children:
            try:
                os.kill(child, sig)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    worst = 0
    for child in children:
        _, status = os.waitpid(child, 0)
        worst = max(worst, os.waitstatus_to_exitcode(status) != 0)
    return worst
