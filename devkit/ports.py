"""Free TCP ports on the loopback interface, for processes a test or benchmark starts.

They are taken below the kernel's ephemeral range: a process restarted on its port (a broker after an
outage, a service after kill -9) must find it free again, and a port of the ephemeral range may meanwhile
be the local end of any outgoing connection of the machine.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 20000


def _first_ephemeral_port() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port(count: int = 1) -> int:
    """A port free now, and the ``count - 1`` after it too (a broker's listener and controller, the
    services of ``conference run --base-port``), outside the ephemeral range."""
    highest = max(LOWEST + count, _first_ephemeral_port()) - count
    while True:
        port = random.randint(LOWEST, highest)
        if all(_is_free(port + i) for i in range(count)):
            return port


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
