"""Clusters of real `cairn agent` processes on loopback.

Every agent gets its own ephemeral server/HTTP/DNS/gossip ports and data
dir. Servers -retry-join each other's LAN gossip address (as Consul's) and
-bootstrap-expect the initial size; client agents -retry-join the
servers. Polls have deadlines; nothing sleeps for correctness.
"""
import os
import shutil
import signal
import subprocess
import time
import uuid

import requests

from conftest import BIN, free_port, wait_until

FAST = ["-raft-tick", "20ms"]  # Elections in 200-400 ms: quick tests.



class Server:
    server = True

    def __init__(self, cluster, i, node_id=None, name=None, dc=None):
        self.cluster = cluster
        self.i = i
        self.name = name or "s%d" % i
        self.dc = dc or cluster.dc
        self.rpc_port = free_port()
        self.http_port = free_port()
        self.dns_port = free_port()
        self.lan_port = free_port()
        self.wan_port = free_port()
        self.data_dir = os.path.join(cluster.root, self.name)
        self.node_id = node_id or str(uuid.uuid4())
        self.proc = None
        self.log_path = os.path.join(cluster.root, self.name + ".log")

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http_port

    @property
    def rpc_addr(self):
        return "127.0.0.1:%d" % self.rpc_port

    @property
    def lan_addr(self):
        return "127.0.0.1:%d" % self.lan_port

    @property
    def wan_addr(self):
        return "127.0.0.1:%d" % self.wan_port

    def start(self, expect=None, join=None, extra=()):
        os.makedirs(self.data_dir, exist_ok=True)
        with open(os.path.join(self.data_dir, "node-id"), "w") as f:
            f.write(self.node_id)
        args = [BIN, "agent", "-data-dir", self.data_dir, "-node", self.name,
                "-bind", "127.0.0.1", "-server-port", str(self.rpc_port),
                "-http-port", str(self.http_port), "-dns-port", str(self.dns_port),
                "-serf-lan-port", str(self.lan_port), "-serf-wan-port", str(self.wan_port),
                "-datacenter", self.dc, "-log-level", "debug"]
        args += (["-server"] if self.server else []) + FAST + list(self.cluster.extra)
        args += list(extra)
        if expect:
            args += ["-bootstrap-expect", str(expect)]
        for addr in (join if join is not None else self.cluster.join_addrs()):
            args += ["-retry-join", addr]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        assert wait_until(lambda: requests.get(self.url + "/v1/agent/self", timeout=1).ok,
                          timeout=10), self.tail()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def stop(self):
        """SIGTERM; returns the exit code."""
        if not self.proc:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = -9
        self.proc = None
        return code

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wipe(self):
        """Loses the whole data dir, node id included: to Raft this is a
        new server (one that forgot its log must not vote as the old one)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.old_id = self.node_id
        self.node_id = str(uuid.uuid4())

    def tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def get(self, path, **kw):
        kw.setdefault("timeout", 10)
        return requests.get(self.url + path, **kw)

    def put(self, path, data=b"", **kw):
        kw.setdefault("timeout", 10)
        return requests.put(self.url + path, data=data, **kw)

    def leader(self):
        try:
            return self.get("/v1/status/leader", timeout=2).json()
        except (requests.RequestException, ValueError):
            return ""


class Client(Server):
    """A client agent: no Raft; forwards to the servers it learns by gossip."""
    server = False


class Cluster:
    def __init__(self, tmp_path, n, extra=(), dc="dc1", prefix=""):
        self.root = str(tmp_path)
        self.extra = list(extra)
        self.dc = dc
        self.servers = [Server(self, i + 1, name="%ss%d" % (prefix, i + 1)) for i in range(n)]
        self.clients = []
        self.prefix = prefix

    def join_addrs(self):
        return [s.lan_addr for s in self.servers]

    def add_clients(self, n):
        new = []
        for i in range(n):
            k = len(self.clients) + 1
            c = Client(self, 100 + k, name="%sc%d" % (self.prefix, k))
            self.clients.append(c)
            c.start()
            new.append(c)
        return new

    def start(self):
        n = len(self.servers)
        for s in self.servers:
            s.start(expect=n)
        assert self.wait_leader(), self.dump()
        return self

    def live(self):
        return [s for s in self.servers if s.alive()]

    def wait_leader(self, timeout=20, exclude=None):
        """A leader every live server agrees on; returns its Server."""
        result = {}

        def agreed():
            views = {s.leader() for s in self.live() if s is not exclude}
            if len(views) == 1 and "" not in views:
                addr = views.pop()
                for s in self.servers:
                    if s.rpc_addr == addr and s.alive():
                        result["s"] = s
                        return True
            return False
        return result.get("s") if wait_until(agreed, timeout=timeout, interval=0.05) else None

    def dump(self):
        return "\n\n".join("== %s\n%s" % (s.name, s.tail())
                             for s in self.servers + self.clients)

    def close(self):
        for s in self.servers + self.clients:
            s.kill()
            if hasattr(s, "log"):
                s.log.close()
