"""Free TCP ports on the loopback interface, for processes a test or benchmark starts."""

from __future__ import annotations

import socket


def free_port(count: int = 1) -> int:
    """A port free now, and the ``count - 1`` after it too (a broker's listener and controller, the
    services of ``conference run --base-port``)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port + count <= 65535 and all(_is_free(port + i) for i in range(1, count)):
            return port


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
