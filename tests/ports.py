"""Loopback ports for tests that start real processes."""
import os
import socket

_PORT_LO, _PORT_HI = 20000, 32000  # Below Linux's ephemeral range (32768+).
_next_port = _PORT_LO + (os.getpid() * 7919) % (_PORT_HI - _PORT_LO)


def free_port():
    """A loopback port free for TCP and UDP, outside the ephemeral range.

    Asking the kernel for port 0 hands out ephemeral ports, which outgoing
    connections (a client's, or another test run's) may take before the
    agent under test binds; CI saw exactly that. Walking our own range from
    a per-process offset avoids both races.
    """
    global _next_port
    for _ in range(_PORT_HI - _PORT_LO):
        p = _next_port
        _next_port = _PORT_LO + (p + 1 - _PORT_LO) % (_PORT_HI - _PORT_LO)
        try:
            with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                t.bind(("127.0.0.1", p))
                u.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
    raise RuntimeError("no free port")
