"""Fixtures: real `cairn` processes on loopback with ephemeral ports.

CAIRN_BIN names the binary (scripts/test.sh sets it; default build/cairn).
Every wait is a poll with a deadline; no test asserts a duration.
"""
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ports import free_port  # noqa: E402,F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "cairn"))


def wait_until(pred, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except Exception:
            pass
        time.sleep(interval)
    return False


class Agent:
    def __init__(self, extra=()):
        self.http_port = free_port()
        self.dns_port = free_port()
        self.addr = "127.0.0.1:%d" % self.http_port
        self.url = "http://" + self.addr
        args = [BIN, "agent", "-dev", "-node", "test-node",
                "-http-port", str(self.http_port), "-dns-port", str(self.dns_port)]
        args += list(extra)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        ok = wait_until(lambda: requests.get(self.url + "/v1/status/leader", timeout=1).ok)
        if not ok:
            self.proc.kill()
            out = self.proc.communicate()[0].decode(errors="replace")
            raise RuntimeError("agent did not start:\n" + out)

    def stop(self):
        """SIGTERM; returns (exit code, output). Sanitizer reports fail."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out = self.proc.communicate(timeout=20)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out = self.proc.communicate()[0].decode(errors="replace")
            return -9, out
        return self.proc.returncode, out


@pytest.fixture(scope="module")
def agent():
    a = Agent()
    yield a
    code, out = a.stop()
    assert "ERROR: AddressSanitizer" not in out, out
    assert "runtime error:" not in out, out
    assert code == 0, out


@pytest.fixture
def fresh_agent():
    a = Agent()
    yield a
    code, out = a.stop()
    assert "ERROR: AddressSanitizer" not in out, out
    assert code == 0, out


def cli(agent, *args, stdin=None, env_extra=None):
    env = dict(os.environ)
    env.pop("CAIRN_HTTP_ADDR", None)
    env["CONSUL_HTTP_ADDR"] = agent.addr
    if env_extra:
        env.update(env_extra)
    p = subprocess.run([BIN] + list(args), input=stdin, capture_output=True, env=env,
                       timeout=30)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
