"""Interoperability of cairn's gossip layer with a real HashiCorp serf agent.

Runs `serf agent` (Debian package `serf`, 0.9.4) and several
build/src/gossip/gossip_node processes on 127.0.0.1 with ephemeral ports:
both sides must list each other alive (plain and with -encrypt), a killed
node must become failed on the others, user events must cross both ways,
a graceful leave must show as left, serf queries must be answered both
ways (filters, acks, `serf reachability`), and the keyring must rotate
cluster-wide from either side (`serf keys` and cairn's keyring op).

Run: /usr/bin/python3 -m pytest -q tests/gossip
Env: GOSSIP_NODE (path to gossip_node; default build/src/gossip/gossip_node).
Skipped with a message when serf or the binary is missing.
"""
import base64
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ports import free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_BIN = os.environ.get("GOSSIP_NODE", os.path.join(ROOT, "build", "src", "gossip", "gossip_node"))
SERF = shutil.which("serf")

pytestmark = [
    pytest.mark.skipif(SERF is None, reason="serf not installed (apt-get install -y serf)"),
    pytest.mark.skipif(not os.access(NODE_BIN, os.X_OK),
                       reason="gossip_node not built (ninja -C build)"),
]

KEY = base64.b64encode(b"cairn-test-key16").decode()
KEY2 = base64.b64encode(b"second-key-16byt").decode()
KEY3 = base64.b64encode(b"third-key-32-bytes-long-for-aes!").decode()




def wait_for(fn, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last))


class SerfAgent:
    def __init__(self, tmp, name, key=None, join=None):
        self.name = name
        self.port = free_port()
        self.rpc = "127.0.0.1:%d" % free_port()
        self.events_file = os.path.join(tmp, name + ".events")
        open(self.events_file, "w").close()
        handler = 'user=echo "$SERF_USER_EVENT $(cat)" >> %s' % self.events_file
        args = [SERF, "agent", "-node=" + name, "-bind=127.0.0.1:%d" % self.port,
                "-rpc-addr=" + self.rpc, "-tag", "role=serf", "-event-handler", handler,
                "-event-handler", "query=printf answer-from-%s" % name,
                "-log-level=debug"]
        if key:
            args.append("-encrypt=" + key)
        if join:
            args.append("-join=" + join)
        self.log = open(os.path.join(tmp, name + ".log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        wait_for(self._rpc_up, 10, "serf agent %s RPC" % name)

    def _rpc_up(self):
        r = subprocess.run([SERF, "members", "-rpc-addr=" + self.rpc],
                           capture_output=True, text=True)
        return r.returncode == 0

    def members(self):
        r = subprocess.run([SERF, "members", "-rpc-addr=" + self.rpc],
                           capture_output=True, text=True, timeout=10)
        out = {}
        for line in r.stdout.splitlines():
            f = line.split()
            if len(f) >= 3:
                out[f[0]] = f[2]
        return out

    def join(self, addr):
        return subprocess.run([SERF, "join", "-rpc-addr=" + self.rpc, addr],
                              capture_output=True, text=True, timeout=20)

    def event(self, name, payload):
        subprocess.run([SERF, "event", "-rpc-addr=" + self.rpc, name, payload],
                       check=True, capture_output=True, timeout=10)

    def events(self):
        with open(self.events_file) as f:
            return f.read()

    def cli(self, cmd, *args, timeout=30):
        return subprocess.run([SERF, cmd, "-rpc-addr=" + self.rpc] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def keys(self, *args):
        """`serf keys ARGS`: (returncode, output)."""
        r = self.cli("keys", *args)
        return r.returncode, r.stdout + r.stderr

    def key_list(self):
        """{key: "n/m"} from `serf keys -list`, and the output."""
        rc, out = self.keys("-list")
        assert rc == 0, out
        keys = {}
        for line in out.splitlines():
            f = line.split()
            if len(f) == 2 and f[1].startswith("[") and f[1].endswith("]"):
                keys[f[0]] = f[1][1:-1]
        return keys, out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Node:
    """A gossip_node process; stdout lines are collected by a thread."""

    def __init__(self, name, key=None, join=None, tags=(), answer=None):
        self.name = name
        args = [NODE_BIN, "-name", name, "-bind", "127.0.0.1", "-port", "0"]
        if answer:
            args += ["-query-response", answer]
        for j in join or []:
            args += ["-join", j]
        if key:
            args += ["-encrypt", key]
        for t in tags:
            args += ["-tag", t]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.lines = []
        self.q = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()
        ready = self.expect(lambda l: l.startswith("ready "), 10)
        self.port = int(ready.split("port=")[1])
        self.addr = "127.0.0.1:%d" % self.port

    def _reader(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            self.q.put(line)

    def expect(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            if pred(line):
                return line
        raise AssertionError("%s: no expected line within %ss; got %r"
                             % (self.name, timeout, self.lines[-10:]))

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def members(self):
        while not self.q.empty():
            self.q.get_nowait()
        self.send("members")
        out = {}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            line = self.q.get(timeout=5)
            if line == "end":
                return out
            if line.startswith("member "):
                kv = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
                out[kv["name"]] = kv["status"]
        raise AssertionError("%s: members timed out" % self.name)

    def drain(self):
        while not self.q.empty():
            self.q.get_nowait()

    def keys(self):
        """The local keyring, primary first."""
        self.drain()
        self.send("keys")
        out = []
        while True:
            line = self.expect(lambda l: l.startswith("key ") or l == "keys-end", 5)
            if line == "keys-end":
                return out
            out.append(line.split()[1])

    def keyring(self, op, key=""):
        """Cluster keyring op: (summary dict, messages, keys, primaries)."""
        self.drain()
        self.send(("keyring %s %s" % (op, key)).strip())
        sent = self.expect(lambda l: l.startswith("keyring-sent "), 5)
        assert sent == "keyring-sent rc=0", sent
        head = self.expect(lambda l: l.startswith("keyring rc="), 30)
        summary = dict(p.split("=", 1) for p in head.split()[1:])
        msgs, keys, prim = {}, {}, {}
        while True:
            line = self.expect(lambda l: l.startswith("keyring-"), 5)
            if line == "keyring-end":
                return summary, msgs, keys, prim
            kv = dict(p.split("=", 1) for p in line.split(" ", 1)[1].split(" ", 1))
            if line.startswith("keyring-msg "):
                msgs[kv["node"]] = kv["msg"]
            elif line.startswith("keyring-key "):
                keys[kv["key"]] = int(kv["count"])
            elif line.startswith("keyring-primary "):
                prim[kv["key"]] = int(kv["count"])

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def cluster():
    tmp = tempfile.mkdtemp(prefix="gossip-interop-")
    made = []

    def add(obj):
        made.append(obj)
        return obj

    yield tmp, add
    for o in reversed(made):
        o.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def all_alive(view, names):
    return all(view.get(n) == "alive" for n in names)


@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "encrypted"])
def test_serf_and_cairn_see_each_other(cluster, key):
    tmp, add = cluster
    a = add(SerfAgent(tmp, "serf-a", key=key))
    n1 = add(Node("cn-1", key=key, join=["127.0.0.1:%d" % a.port], tags=["role=node", "dc=dc1"]))
    n1.expect(lambda l: l == "joined n=1", 10)
    n2 = add(Node("cn-2", key=key, join=[n1.addr], tags=["role=node"]))
    n3 = add(Node("cn-3", key=key, join=[n2.addr]))
    # A second serf agent joins through a cairn node (serf -> cairn push/pull).
    b = add(SerfAgent(tmp, "serf-b", key=key))
    r = b.join(n3.addr)
    assert r.returncode == 0, r.stdout + r.stderr
    names = ["serf-a", "serf-b", "cn-1", "cn-2", "cn-3"]
    wait_for(lambda: all_alive(a.members(), names), 20, "serf-a sees everyone alive")
    wait_for(lambda: all_alive(b.members(), names), 20, "serf-b sees everyone alive")
    for n in (n1, n2, n3):
        wait_for(lambda: all_alive(n.members(), names), 20, "%s sees everyone alive" % n.name)
    # Tags survive the trip through serf.
    out = subprocess.run([SERF, "members", "-rpc-addr=" + a.rpc, "-name=cn-1"],
                         capture_output=True, text=True).stdout
    assert "dc=dc1" in out and "role=node" in out, out


def test_encrypted_node_rejects_plain_serf(cluster):
    tmp, add = cluster
    n1 = add(Node("cn-1", key=KEY))
    a = add(SerfAgent(tmp, "serf-a"))
    r = a.join(n1.addr)
    assert r.returncode != 0
    assert "cn-1" not in a.members()


def test_killed_nodes_become_failed(cluster):
    tmp, add = cluster
    a = add(SerfAgent(tmp, "serf-a"))
    n1 = add(Node("cn-1", join=["127.0.0.1:%d" % a.port]))
    n2 = add(Node("cn-2", join=[n1.addr]))
    n3 = add(Node("cn-3", join=[n1.addr]))
    b = add(SerfAgent(tmp, "serf-b", join="127.0.0.1:%d" % a.port))
    names = ["serf-a", "serf-b", "cn-1", "cn-2", "cn-3"]
    wait_for(lambda: all_alive(a.members(), names), 20, "all alive")
    for n in (n1, n2, n3):
        wait_for(lambda: all_alive(n.members(), names), 20, "%s sees all alive" % n.name)
    n3.kill9()
    wait_for(lambda: a.members().get("cn-3") == "failed", 45, "serf-a marks cn-3 failed")
    wait_for(lambda: n1.members().get("cn-3") == "failed", 45, "cn-1 marks cn-3 failed")
    b.stop()
    wait_for(lambda: n2.members().get("serf-b") == "failed", 45, "cn-2 marks serf-b failed")
    wait_for(lambda: a.members().get("serf-b") == "failed", 45, "serf-a marks serf-b failed")


def test_user_events_both_ways(cluster):
    tmp, add = cluster
    a = add(SerfAgent(tmp, "serf-a"))
    n1 = add(Node("cn-1", join=["127.0.0.1:%d" % a.port]))
    n2 = add(Node("cn-2", join=[n1.addr]))
    wait_for(lambda: all_alive(a.members(), ["cn-1", "cn-2"]), 20, "joined")
    wait_for(lambda: all_alive(n2.members(), ["serf-a", "cn-1"]), 20, "cn-2 sees all")
    a.event("deploy", "v42")
    for n in (n1, n2):
        n.expect(lambda l: l.startswith("user name=deploy payload=v42"), 10)
    n2.send("event restart now")
    wait_for(lambda: "restart now" in a.events(), 15, "serf-a runs the handler for cn-2's event")
    # Delivered once: no duplicate on cn-1 either.
    n1.expect(lambda l: l.startswith("user name=restart payload=now"), 10)
    time.sleep(2)
    assert sum(1 for l in n1.lines if l.startswith("user name=restart")) == 1


def test_graceful_leave_shows_left(cluster):
    tmp, add = cluster
    a = add(SerfAgent(tmp, "serf-a"))
    n1 = add(Node("cn-1", join=["127.0.0.1:%d" % a.port]))
    n2 = add(Node("cn-2", join=[n1.addr]))
    wait_for(lambda: all_alive(a.members(), ["cn-1", "cn-2"]), 20, "joined")
    wait_for(lambda: all_alive(n1.members(), ["serf-a", "cn-2"]), 20, "cn-1 sees all")
    n2.send("leave")
    n2.expect(lambda l: l.startswith("left rc="), 15)
    wait_for(lambda: a.members().get("cn-2") == "left", 15, "serf-a shows cn-2 left")
    wait_for(lambda: n1.members().get("cn-2") == "left", 15, "cn-1 shows cn-2 left")
    # A serf agent leaving gracefully is left (not failed) for cairn too.
    subprocess.run([SERF, "leave", "-rpc-addr=" + a.rpc], capture_output=True, timeout=20)
    wait_for(lambda: n1.members().get("serf-a") == "left", 20, "cn-1 shows serf-a left")


def encrypted_pool(cluster, n_cairn=2):
    tmp, add = cluster
    a = add(SerfAgent(tmp, "serf-a", key=KEY))
    nodes = [add(Node("cn-1", key=KEY, join=["127.0.0.1:%d" % a.port]))]
    for i in range(2, n_cairn + 1):
        nodes.append(add(Node("cn-%d" % i, key=KEY, join=[nodes[0].addr])))
    names = ["serf-a"] + [n.name for n in nodes]
    wait_for(lambda: all_alive(a.members(), names), 20, "serf-a sees everyone alive")
    for n in nodes:
        wait_for(lambda: all_alive(n.members(), names), 20, "%s sees everyone alive" % n.name)
    return a, nodes, names


def test_serf_keys_rotates_cairn_keyrings(cluster):
    a, nodes, names = encrypted_pool(cluster)
    keys, out = a.key_list()
    assert keys == {KEY: "3/3"}, out
    rc, out = a.keys("-install=" + KEY2)
    assert rc == 0, out
    for n in nodes:
        assert n.keys() == [KEY, KEY2], n.name
    keys, out = a.key_list()
    assert keys == {KEY: "3/3", KEY2: "3/3"}, out
    assert "error" not in out.lower() and "fail" not in out.lower(), out
    rc, out = a.keys("-use=" + KEY2)
    assert rc == 0, out
    for n in nodes:
        assert n.keys()[0] == KEY2, n.name
    rc, out = a.keys("-remove=" + KEY)
    assert rc == 0, out
    for n in nodes:
        assert n.keys() == [KEY2], n.name
    # Removing the primary fails on every node, cairn's included, with serf's words.
    rc, out = a.keys("-remove=" + KEY2)
    assert rc != 0, out
    assert "cn-1" in out and "Removing the primary key is not allowed" in out, out
    # Using an unknown key fails the same way.
    rc, out = a.keys("-use=" + KEY3)
    assert rc != 0 and "not in the keyring" in out, out
    # The pool still works on the rotated key: an event crosses, all alive.
    nodes[1].send("event rotated yes")
    wait_for(lambda: "rotated yes" in a.events(), 15, "event after rotation")
    wait_for(lambda: all_alive(a.members(), names), 10, "all alive after rotation")


def test_cairn_keyring_op_reaches_serf(cluster):
    a, nodes, names = encrypted_pool(cluster)
    n1 = nodes[0]
    summary, msgs, keys, prim = n1.keyring("list")
    assert summary == {"rc": "0", "nodes": "3", "resp": "3", "err": "0"}, (summary, msgs)
    assert keys == {KEY: 3} and prim == {KEY: 3}, (keys, prim)
    summary, msgs, _, _ = n1.keyring("install", KEY3)
    assert summary == {"rc": "0", "nodes": "3", "resp": "3", "err": "0"}, (summary, msgs)
    keys, out = a.key_list()
    assert keys == {KEY: "3/3", KEY3: "3/3"}, out
    summary, msgs, _, _ = n1.keyring("use", KEY3)
    assert summary["err"] == "0" and summary["resp"] == "3", (summary, msgs)
    summary, msgs, _, _ = n1.keyring("remove", KEY)
    assert summary["err"] == "0" and summary["resp"] == "3", (summary, msgs)
    keys, out = a.key_list()
    assert keys == {KEY3: "3/3"}, out
    assert nodes[1].keys() == [KEY3]
    # Every node refuses to drop its primary; the errors come back per node.
    summary, msgs, _, _ = n1.keyring("remove", KEY3)
    assert summary["err"] == "3" and summary["rc"] != "0", (summary, msgs)
    assert set(msgs) == set(names), msgs
    assert all("primary key" in m for m in msgs.values()), msgs
    summary, msgs, keys, prim = n1.keyring("list")
    assert keys == {KEY3: 3} and prim == {KEY3: 3}, (keys, prim)


def test_keyring_op_without_encryption_reports_errors(cluster):
    tmp, add = cluster
    a = add(SerfAgent(tmp, "serf-a"))
    n1 = add(Node("cn-1", join=["127.0.0.1:%d" % a.port]))
    wait_for(lambda: all_alive(n1.members(), ["serf-a", "cn-1"]), 20, "joined")
    summary, msgs, keys, _ = n1.keyring("list")
    assert summary["nodes"] == "2" and summary["resp"] == "2" and summary["err"] == "2", summary
    assert all("encryption not enabled" in m for m in msgs.values()), msgs
    assert keys == {}
    rc, out = a.keys("-install=" + KEY2)
    assert rc != 0 and "cn-1" in out and "encryption not enabled" in out, out


def serf_query(a, *args):
    r = a.cli("query", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_serf_query_answered_by_cairn(cluster):
    tmp, add = cluster
    a = add(SerfAgent(tmp, "serf-a"))
    n1 = add(Node("cn-1", join=["127.0.0.1:%d" % a.port], tags=["role=web-1"], answer="hi-from-1"))
    n2 = add(Node("cn-2", join=[n1.addr], tags=["role=db"], answer="hi-from-2"))
    n3 = add(Node("cn-3", join=[n1.addr]))  # acks but never answers
    names = ["serf-a", "cn-1", "cn-2", "cn-3"]
    wait_for(lambda: all_alive(a.members(), names), 20, "all alive")
    out = serf_query(a, "-timeout=3s", "ask", "question")
    for n in names:
        assert "Ack from '%s'" % n in out, out
    assert "Response from 'cn-1': hi-from-1" in out, out
    assert "Response from 'cn-2': hi-from-2" in out, out
    assert "Response from 'cn-3'" not in out, out
    n1.expect(lambda l: l == "query-in name=ask payload=question from=serf-a"
              or l.startswith("query-in name=ask payload=question from="), 5)
    # Node filter: only cn-2 acks and answers.
    out = serf_query(a, "-timeout=3s", "-node=cn-2", "ask2", "x")
    assert "Response from 'cn-2'" in out and "cn-1" not in out and "cn-3" not in out, out
    # Tag regex filter: role matching ^web answers; db and untagged stay silent.
    out = serf_query(a, "-timeout=3s", "-tag=role=^web", "ask3", "y")
    assert "Response from 'cn-1'" in out and "cn-2" not in out and "cn-3" not in out, out
    assert "serf-a" not in out, out
    # Relay factor: cairn relays its answers through other members; serf
    # still shows each responder once.
    out = serf_query(a, "-timeout=3s", "-relay-factor=2", "ask4", "z")
    assert out.count("Response from 'cn-1'") == 1 and out.count("Ack from 'cn-2'") == 1, out
    # serf reachability: _serf_ping acks from every member.
    r = a.cli("reachability")
    assert r.returncode == 0 and "Successfully contacted all live nodes" in r.stdout, \
        r.stdout + r.stderr


def test_cairn_query_answered_by_serf(cluster):
    tmp, add = cluster
    a = add(SerfAgent(tmp, "serf-a"))
    n1 = add(Node("cn-1", join=["127.0.0.1:%d" % a.port], answer="self-answer"))
    n2 = add(Node("cn-2", join=[n1.addr], answer="two"))
    wait_for(lambda: all_alive(n1.members(), ["serf-a", "cn-1", "cn-2"]), 20, "all alive")
    n1.drain()
    n1.send("query -ack -timeout 2000 hello world")
    done = n1.expect(lambda l: l.startswith("query-done "), 10)
    assert done == "query-done acks=3 resps=3", (done, n1.lines[-12:])
    got = set(l for l in n1.lines if l.startswith("query-resp "))
    assert "query-resp from=serf-a payload=answer-from-serf-a" in got, got
    assert "query-resp from=cn-2 payload=two" in got, got
    assert "query-resp from=cn-1 payload=self-answer" in got, got
    # Node filter from cairn: only serf-a answers.
    n1.drain()
    n1.send("query -ack -timeout 1500 -node serf-a hello again")
    done = n1.expect(lambda l: l.startswith("query-done "), 10)
    assert done == "query-done acks=1 resps=1", (done, n1.lines[-8:])
