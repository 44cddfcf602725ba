"""Gossip membership with real processes: 3 servers + 3 client agents
(members everywhere, forwarding, kill/restart/leave/force-leave, serfHealth
in the catalog, events), and two datacenters joined over the WAN pool."""
import json
import os
import subprocess

import pytest
import requests

from cluster import Cluster
from conftest import BIN, wait_until

ALIVE, LEFT, FAILED = 1, 3, 4


def statuses(agent, wan=False):
    r = agent.get("/v1/agent/members" + ("?wan" if wan else ""), timeout=3)
    return {m["Name"]: m["Status"] for m in r.json()}


def cli(agent, *args):
    # Flags before arguments, as Go's flag package (and so Consul) wants.
    argv = [BIN, args[0], "-http-addr", "127.0.0.1:%d" % agent.http_port] + list(args[1:])
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def dns_a(agent, name):
    import dns.message
    import dns.query
    import dns.rdatatype
    r = dns.query.udp(dns.message.make_query(name, dns.rdatatype.A), "127.0.0.1",
                      port=agent.dns_port, timeout=3)
    return [rr.address for a in r.answer for rr in a]


def serf_health(agent, node):
    for c in agent.get("/v1/health/node/" + node).json():
        if c["CheckID"] == "serfHealth":
            return c["Status"]
    return None


def big_list_reads(writer, reader):
    """A list big enough for the reply caches (agent: gzip'd body by
    result index; server: encoded reply) read through a client agent:
    repeated reads send the cached index over RPC and get "not modified";
    every change must still show."""
    for i in range(120):
        assert writer.put("/v1/catalog/register", json={
            "Node": "big-%d" % i, "Address": "10.9.0.%d" % (i % 250),
            "Service": {"ID": "big", "Service": "big", "Port": 9000 + i,
                        "Meta": {"pad": "x" * 100}},
            "Check": {"CheckID": "c", "Name": "c", "ServiceID": "big",
                      "Status": "passing"}}).json() is True
    path = "/v1/health/service/big?passing"
    first = reader.get(path)
    assert len(first.content) > 16384 or first.headers.get("Content-Encoding") == "gzip"
    for _ in range(3):
        again = reader.get(path)
        assert again.json() == first.json()
        assert again.headers["X-Consul-Index"] == first.headers["X-Consul-Index"]
    # A stale read may be served by a follower a little behind.
    assert wait_until(lambda: len(reader.get(path + "&stale").json()) == 120, timeout=10)
    writer.put("/v1/catalog/register", json={
        "Node": "big-7", "Address": "10.9.0.7",
        "Check": {"CheckID": "c", "Name": "c", "ServiceID": "big", "Status": "critical"}})
    nodes = lambda: sorted(x["Node"]["Node"] for x in reader.get(path).json())  # noqa: E731
    assert wait_until(lambda: len(nodes()) == 119, timeout=10)
    assert "big-7" not in nodes()
    assert int(reader.get(path).headers["X-Consul-Index"]) > int(first.headers["X-Consul-Index"])


@pytest.fixture
def c33(tmp_path):
    c = Cluster(tmp_path, 3)
    try:
        c.start()
        c.add_clients(3)
        yield c
    finally:
        c.close()


def test_members_lifecycle(c33):
    c = c33
    everyone = c.servers + c.clients
    names = {a.name for a in everyone}
    for a in everyone:
        assert wait_until(lambda: statuses(a) == {n: ALIVE for n in names}, timeout=30), \
            (a.name, statuses(a), c.dump())
    out = cli(c.clients[0], "members")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["Node", "Address", "Status", "Type"]
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert set(rows) == names
    assert rows["s1"][2:4] == ["alive", "server"] and rows["c1"][2:4] == ["alive", "client"]
    assert rows["c1"][6] == "dc1"

    # Client agents run no Raft: reads and writes go to the servers.
    c1, c2, c3 = c.clients
    assert c1.put("/v1/kv/from-client", data=b"v").json() is True
    assert c2.get("/v1/kv/from-client?raw").content == b"v"
    assert c1.get("/v1/status/leader").json() == c.wait_leader().rpc_addr
    big_list_reads(c1, c2)
    # Services registered on a client reach the catalog by anti-entropy,
    # and every member is a catalog node with a passing serfHealth.
    assert c1.put("/v1/agent/service/register", data=json.dumps({"Name": "web", "Port": 80})).ok
    s1 = c.servers[0]
    assert wait_until(lambda: [x["Node"] for x in s1.get("/v1/catalog/service/web").json()]
                      == ["c1"], timeout=15)
    assert wait_until(lambda: all(serf_health(s1, n) == "passing" for n in names), timeout=20)

    # kill -9: failed everywhere, serfHealth critical, out of ?passing.
    c1.kill()
    for a in c.servers + [c2, c3]:
        assert wait_until(lambda: statuses(a).get("c1") == FAILED, timeout=60), \
            (a.name, statuses(a))
    assert wait_until(lambda: serf_health(s1, "c1") == "critical", timeout=20)
    assert wait_until(lambda: s1.get("/v1/health/service/web?passing").json() == [], timeout=10)
    assert wait_until(lambda: dns_a(s1, "web.service.consul") == [], timeout=10)
    # Back: alive again, passing again.
    c1.start()
    for a in c.servers + [c2, c3]:
        assert wait_until(lambda: statuses(a).get("c1") == ALIVE, timeout=30), \
            (a.name, statuses(a))
    assert wait_until(lambda: serf_health(s1, "c1") == "passing", timeout=20)
    assert wait_until(lambda: len(s1.get("/v1/health/service/web?passing").json()) == 1,
                      timeout=20)
    assert wait_until(lambda: dns_a(s1, "web.service.consul") == ["127.0.0.1"], timeout=10)

    # cairn leave: left, and the catalog forgets the node.
    out = cli(c2, "leave")
    assert out.returncode == 0 and "Graceful leave complete" in out.stdout, out
    assert c2.proc.wait(20) == 0
    c2.proc = None
    # Usually at once; a member the leave's dead broadcast missed (a few
    # percent with 7 nodes and memberlist's retransmit limit of 4) gets
    # there by probing: suspicion timeout, and leaving + dead = left.
    for a in c.servers + [c1, c3]:
        assert wait_until(lambda: statuses(a).get("c2") == LEFT, timeout=60), \
            (a.name, statuses(a))
    assert wait_until(lambda: s1.get("/v1/catalog/node/c2").json() is None, timeout=20)

    # force-leave a failed member: left.
    c3.kill()
    assert wait_until(lambda: statuses(s1).get("c3") == FAILED, timeout=60)
    out = cli(s1, "force-leave", "c3")
    assert out.returncode == 0, out
    # The leave intent spreads by gossip; a member every retransmission
    # missed gets it from the next push/pull (30 s): hence 60 s.
    assert wait_until(lambda: statuses(s1).get("c3") == LEFT, timeout=60)
    assert wait_until(lambda: statuses(c.servers[2]).get("c3") == LEFT, timeout=60)
    out = cli(s1, "force-leave", "nobody")
    assert out.returncode != 0 and "No node found with name 'nobody'" in out.stderr + out.stdout


def test_events_reach_every_agent(c33):
    c = c33
    everyone = c.servers + c.clients
    for a in everyone:
        assert wait_until(lambda: len(statuses(a)) == 6, timeout=30)
    out = cli(c.clients[0], "event", "-name", "deploy", "v42")
    assert out.returncode == 0 and "Event ID:" in out.stdout, out
    eid = out.stdout.split("Event ID:")[1].split()[0]
    for a in everyone:
        assert wait_until(lambda: [e["ID"] for e in a.get("/v1/event/list?name=deploy").json()]
                          == [eid], timeout=60), (a.name, c.dump())
    ev = c.servers[1].get("/v1/event/list").json()[0]
    assert ev["Name"] == "deploy" and ev["LTime"] >= 1
    # A node filter keeps the event off the other agents. (Gossip usually
    # delivers in well under a second; a node every rebroadcast missed gets
    # it from the events in the next push/pull, so the bound is 60 s.)
    r = c.servers[0].put("/v1/event/fire/only-c2?node=^c2$").json()
    assert wait_until(lambda: [e["ID"] for e in c.clients[1].get("/v1/event/list?name=only-c2")
                               .json()] == [r["ID"]], timeout=60), c.dump()
    assert c.clients[0].get("/v1/event/list?name=only-c2").json() == []


def test_two_datacenters(tmp_path):
    os.makedirs(tmp_path / "a")
    os.makedirs(tmp_path / "b")
    dc1 = Cluster(tmp_path / "a", 1, dc="dc1", prefix="a")
    dc2 = Cluster(tmp_path / "b", 1, dc="dc2", prefix="b")
    try:
        dc1.start()
        s2 = dc2.servers[0]
        s2.start(expect=1, extra=["-retry-join-wan", dc1.servers[0].wan_addr])
        assert dc2.wait_leader()
        client = dc1.add_clients(1)[0]
        s1 = dc1.servers[0]
        assert wait_until(lambda: statuses(s1, wan=True) == {"as1.dc1": ALIVE, "bs1.dc2": ALIVE},
                          timeout=30), statuses(s1, wan=True)
        for a in (s1, client):
            assert wait_until(lambda: a.get("/v1/catalog/datacenters").json() == ["dc1", "dc2"],
                              timeout=20), a.get("/v1/catalog/datacenters").text
        assert s2.get("/v1/catalog/datacenters").json() == ["dc2", "dc1"]
        # KV and catalog of dc2, through a dc1 client agent.
        assert client.put("/v1/kv/x?dc=dc2", data=b"2").json() is True
        assert s2.get("/v1/kv/x?raw").content == b"2"
        assert s1.get("/v1/kv/x").status_code == 404
        assert client.get("/v1/kv/x?dc=dc2&raw").content == b"2"
        assert s2.put("/v1/catalog/register", data=json.dumps(
            {"Node": "ext", "Address": "10.0.0.9", "Service": {"Service": "web", "Port": 80}})).ok
        r = client.get("/v1/catalog/service/web?dc=dc2").json()
        assert [(x["Node"], x["Datacenter"]) for x in r] == [("ext", "dc2")]
        assert client.get("/v1/catalog/service/web").json() == []
        r = client.get("/v1/kv/x?dc=dc9")
        assert r.status_code == 500 and "No path to datacenter" in r.text
        # DNS for dc2 through a dc1 client agent.
        import dns.message
        import dns.query
        import dns.rdatatype
        q = dns.message.make_query("web.service.dc2.consul", dns.rdatatype.A)
        r = dns.query.udp(q, "127.0.0.1", port=client.dns_port, timeout=5)
        assert [rr.address for a in r.answer for rr in a] == ["10.0.0.9"], r
        q = dns.message.make_query("web.service.dc9.consul", dns.rdatatype.A)
        assert dns.query.udp(q, "127.0.0.1", port=client.dns_port, timeout=5).rcode() == 3
        out = cli(s1, "members", "-wan")
        assert out.returncode == 0 and "bs1.dc2" in out.stdout and "as1.dc1" in out.stdout, out
    finally:
        dc2.close()
        dc1.close()


def test_keyring_rotation(tmp_path):
    k1, k2 = "MDEyMzQ1Njc4OWFiY2RlZg==", "ZmVkY2JhOTg3NjU0MzIxMA=="
    c = Cluster(tmp_path, 1, extra=["-encrypt", k1])
    try:
        c.start()
        c.add_clients(2)
        s1 = c.servers[0]
        for a in [s1] + c.clients:
            assert wait_until(lambda: statuses(a) == {"s1": ALIVE, "c1": ALIVE, "c2": ALIVE},
                              timeout=30), statuses(a)

        def lan_keys(agent):
            r = agent.get("/v1/operator/keyring").json()
            lan = [x for x in r if not x["WAN"]][0]
            assert lan["NumNodes"] == 3 and lan["Datacenter"] == "dc1", r
            return lan["Keys"], lan["PrimaryKeys"]

        assert lan_keys(c.clients[0]) == ({k1: 3}, {k1: 3})
        out = cli(s1, "keyring", "-list")
        assert out.returncode == 0, out
        assert "WAN:" in out.stdout and "dc1 (LAN):" in out.stdout
        assert "  %s [3/3]" % k1 in out.stdout and "  %s [1/1]" % k1 in out.stdout
        # From a server: the WAN pool and the LAN pool. (A client agent
        # reaches only its LAN pool; Consul's clients forward to servers.)
        out = cli(s1, "keyring", "-install", k2)
        assert out.returncode == 0 and "Installing new gossip encryption key" in out.stdout, out
        assert lan_keys(s1) == ({k1: 3, k2: 3}, {k1: 3})
        assert cli(s1, "keyring", "-use", k2).returncode == 0
        assert lan_keys(s1) == ({k1: 3, k2: 3}, {k2: 3})
        assert cli(s1, "keyring", "-remove", k1).returncode == 0
        assert lan_keys(c.clients[0]) == ({k2: 3}, {k2: 3})
        # The primary cannot go; every member says so.
        out = cli(s1, "keyring", "-remove", k2)
        assert out.returncode == 1 and "primary key" in out.stderr, out
        r = s1.get("/v1/operator/keyring?local-only=true").json()
        assert r[0]["Keys"] == {k2: 1}
        # Gossip still flows under the new key.
        c.clients[0].kill()
        assert wait_until(lambda: statuses(s1).get("c1") == FAILED, timeout=60)
    finally:
        c.close()
