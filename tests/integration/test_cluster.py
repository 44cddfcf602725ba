"""Replicated servers: formation, consistency modes, failover, restarts,
catch-up by log and by snapshot, membership, snapshot save/restore."""
import base64
import subprocess
import time

import pytest
import requests

from cluster import Cluster
from conftest import BIN, wait_until


@pytest.fixture
def c3(tmp_path):
    c = Cluster(tmp_path, 3, extra=["-raft-snapshot-threshold", "200",
                                    "-raft-trailing-logs", "20",
                                    "-raft-snapshot-interval", "200ms"])
    try:
        c.start()
        yield c
    finally:
        c.close()


def value(server, key, **params):
    r = server.get("/v1/kv/" + key, params=params)
    if r.status_code != 200:
        return None
    return base64.b64decode(r.json()[0]["Value"] or "")


def test_formation_and_config(c3):
    leader = c3.wait_leader()
    cfg = leader.get("/v1/operator/raft/configuration").json()
    assert sorted(s["Node"] for s in cfg["Servers"]) == ["s1", "s2", "s3"]
    assert all(s["Voter"] for s in cfg["Servers"])
    assert [s["Address"] for s in cfg["Servers"] if s["Leader"]] == [leader.rpc_addr]
    peers = c3.servers[0].get("/v1/status/peers").json()
    assert sorted(peers) == sorted(s.rpc_addr for s in c3.servers)
    out = subprocess.run([BIN, "operator", "raft", "list-peers",
                          "-http-addr=127.0.0.1:%d" % leader.http_port],
                         capture_output=True, text=True)
    assert out.returncode == 0
    assert "leader" in out.stdout and out.stdout.count("follower") == 2


def test_writes_anywhere_reads_per_mode(c3):
    for i, s in enumerate(c3.servers):
        r = s.put("/v1/kv/k%d" % i, b"v%d" % i)
        assert r.json() is True, r.text
    for s in c3.servers:
        for i in range(3):
            assert value(s, "k%d" % i) == b"v%d" % i              # default: leader
            assert value(s, "k%d" % i, consistent="") == b"v%d" % i
        # stale reads converge on every server
        assert wait_until(lambda: all(value(s, "k%d" % i, stale="") == b"v%d" % i
                                      for i in range(3)))
    r = c3.servers[1].get("/v1/kv/k0", params={"stale": ""})
    assert r.headers["X-Consul-KnownLeader"] == "true"
    assert int(r.headers["X-Consul-LastContact"]) >= 0


def test_leader_kill_and_recovery(c3):
    old = c3.wait_leader()
    assert old.put("/v1/kv/before", b"1").json() is True
    old.kill()
    new = c3.wait_leader(exclude=old)
    assert new is not None and new is not old, c3.dump()
    assert wait_until(lambda: new.put("/v1/kv/after", b"2").json() is True)
    old.start()
    assert wait_until(lambda: value(old, "after", stale="") == b"2", timeout=20), old.tail()
    assert value(old, "before", stale="") == b"1"


def test_follower_catches_up_by_log_and_by_snapshot(c3):
    leader = c3.wait_leader()
    f = next(s for s in c3.servers if s is not leader)
    f.kill()
    for i in range(50):
        assert leader.put("/v1/kv/log/%d" % i, b"x").json() is True
    f.start()
    assert wait_until(lambda: value(f, "log/49", stale="") == b"x", timeout=20), f.tail()
    # Down while the leader compacts its log past the follower's last
    # entry (threshold 200, 20 trailing): it comes back by InstallSnapshot.
    f.kill()
    for i in range(600):
        assert leader.put("/v1/kv/snap/%d" % i, b"y").json() is True
    f.start()
    assert wait_until(lambda: value(f, "snap/599", stale="") == b"y", timeout=30), f.tail()
    assert "installed snapshot" in f.tail(400)
    assert value(f, "log/0", stale="") == b"x"


def test_wiped_server_rejoins_as_a_new_member(c3):
    """A server that lost its data dir comes back under a new node ID at
    the same address: the leader drops the old ID (as Consul does) and
    adds the new one as a learner, promoted once caught up."""
    leader = c3.wait_leader()
    f = next(s for s in c3.servers if s is not leader)
    for i in range(300):
        assert leader.put("/v1/kv/w/%d" % i, b"z").json() is True
    f.kill()
    f.wipe()
    f.start()
    old = f.old_id.replace("-", "")[:16]

    def nodes():
        cfg = leader.get("/v1/operator/raft/configuration").json()
        return {s["ID"]: s["Voter"] for s in cfg["Servers"]}
    new = f.node_id.replace("-", "")[:16]
    assert wait_until(lambda: nodes().get(new) is True, timeout=30), c3.dump()
    assert value(f, "w/299", stale="") == b"z"
    assert wait_until(lambda: old not in nodes(), timeout=10)
    assert len(nodes()) == 3


def test_membership_add_and_remove(c3, tmp_path):
    from cluster import Server
    leader = c3.wait_leader()
    s4 = Server(c3, 4)
    c3.servers.append(s4)
    s4.start(join=[s.rpc_addr for s in c3.servers[:3]])

    def voters():
        cfg = leader.get("/v1/operator/raft/configuration").json()
        return {s["Node"]: s["Voter"] for s in cfg["Servers"]}
    assert wait_until(lambda: voters().get("s4") is True, timeout=30), c3.dump()
    assert leader.put("/v1/kv/four", b"4").json() is True
    assert wait_until(lambda: value(s4, "four", stale="") == b"4")
    r = requests.delete(
        leader.url + "/v1/operator/raft/peer", params={"address": s4.rpc_addr})
    assert r.status_code == 200, r.text
    assert wait_until(lambda: "s4" not in voters(), timeout=10)
    s4.kill()
    assert leader.put("/v1/kv/three", b"3").json() is True


def test_snapshot_save_restore(c3, tmp_path):
    leader = c3.wait_leader()
    for i in range(20):
        leader.put("/v1/kv/snapkey/%d" % i, b"orig%d" % i)
    path = str(tmp_path / "backup.snap")
    out = subprocess.run([BIN, "snapshot", "save", "-http-addr=127.0.0.1:%d" % leader.http_port,
                          path], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Saved and verified snapshot" in out.stdout
    for i in range(20):
        leader.put("/v1/kv/snapkey/%d" % i, b"changed")
    leader.put("/v1/kv/only-after", b"z")
    out = subprocess.run([BIN, "snapshot", "restore",
                          "-http-addr=127.0.0.1:%d" % c3.servers[0].http_port, path],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for s in c3.servers:
        assert wait_until(lambda: value(s, "snapkey/7", stale="") == b"orig7"), s.tail()
        assert value(s, "only-after", stale="") is None
    # A damaged image is refused and changes nothing.
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    r = leader.put("/v1/snapshot", bytes(data))
    assert r.status_code == 400
    assert value(leader, "snapkey/7") == b"orig7"


def test_graceful_leave_transfers_leadership(c3):
    leader = c3.wait_leader()
    out = subprocess.run([BIN, "leave", "-http-addr=127.0.0.1:%d" % leader.http_port],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert wait_until(lambda: not leader.alive(), timeout=15)
    new = c3.wait_leader(exclude=leader)
    assert new is not None and new is not leader
    cfg = new.get("/v1/operator/raft/configuration").json()
    if len(cfg["Servers"]) != 2:
        print("LEAVER:\n" + leader.tail(80) + "\nNEW:\n" + new.tail(80))
    assert len(cfg["Servers"]) == 2, cfg
    assert new.put("/v1/kv/after-leave", b"1").json() is True
