"""DNS from the real agent (issue 5): the catalog through `dig`'s eyes.

A service "web" with 10 instances: six on nodes registered with
/v1/catalog/register (web-node-0 has a warning check, web-node-1 a critical
one), four on the agent's own node through /v1/agent/service/register with
TTL checks. Answers must hold exactly the healthy ones, shuffled, with glue.
"""
import json
import socket
import struct
import subprocess

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import requests

from cluster import Cluster
from conftest import BIN, Agent, free_port, wait_until

CATALOG = 6
LOCAL = 4


def udp(port, name, rdtype, **kw):
    q = dns.message.make_query(name, rdtype, **kw)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=3)


def tcp(port, name, rdtype, **kw):
    q = dns.message.make_query(name, rdtype, **kw)
    return dns.query.tcp(q, "127.0.0.1", port=port, timeout=3)


def big(port, name, rdtype):
    """EDNS with a 4 KiB payload: no udp_answer_limit trimming."""
    return udp(port, name, rdtype, use_edns=0, payload=4096)


def rrs(section, rdtype):
    return [rd for rrset in section if rrset.rdtype == rdtype for rd in rrset]


def srv_ports(port, name="web.service.consul"):
    return sorted(rd.port for rd in rrs(big(port, name, "SRV").answer, dns.rdatatype.SRV))


def register_web(url):
    for i in range(CATALOG):
        body = {"Node": "web-node-%d" % i, "Address": "10.0.0.%d" % (10 + i),
                "NodeMeta": {"rack": "r%d" % i},
                "Service": {"Service": "web", "ID": "web", "Port": 8000 + i,
                            "Tags": ["primary"] if i < 3 else ["secondary"]}}
        if i == 0:
            body["Check"] = {"CheckID": "load", "Name": "load", "Status": "warning",
                             "ServiceID": "web"}
        if i == 1:
            body["Check"] = {"CheckID": "down", "Name": "down", "Status": "critical",
                             "ServiceID": "web"}
        assert requests.put(url + "/v1/catalog/register", json=body).json() is True
    for i in range(LOCAL):
        sid = "web-a%d" % i
        svc = {"Name": "web", "ID": sid, "Port": 9000 + i, "Tags": ["local"],
               "Check": {"TTL": "300s"}}
        assert requests.put(url + "/v1/agent/service/register", json=svc).ok
        assert requests.put(url + "/v1/agent/check/pass/service:" + sid).ok


HEALTHY = sorted([8000] + list(range(8002, 8000 + CATALOG)) +
                 list(range(9000, 9000 + LOCAL)))


@pytest.fixture(scope="module")
def web():
    a = Agent()
    register_web(a.url)
    assert wait_until(lambda: srv_ports(a.dns_port) == HEALTHY), srv_ports(a.dns_port)
    yield a
    code, out = a.stop()
    assert "ERROR: AddressSanitizer" not in out, out
    assert "runtime error:" not in out, out
    assert code == 0, out


def test_srv_healthy_instances_with_glue(web):
    r = big(web.dns_port, "web.service.consul", "SRV")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    srvs = rrs(r.answer, dns.rdatatype.SRV)
    assert sorted(rd.port for rd in srvs) == HEALTHY   # critical one gone
    glue = {str(rrset.name): [str(x) for x in rrset]
            for rrset in r.additional if rrset.rdtype == dns.rdatatype.A}
    for rd in srvs:
        assert str(rd.target) in glue, (rd, glue)
    assert glue["web-node-3.node.dc1.consul."] == ["10.0.0.13"]
    assert glue["test-node.node.dc1.consul."] == ["127.0.0.1"]
    # Node meta rides along as TXT in Additional.
    txt = {str(rrset.name): str(rrset[0]) for rrset in r.additional
           if rrset.rdtype == dns.rdatatype.TXT}
    assert txt["web-node-2.node.dc1.consul."] == '"rack=r2"'
    # Without EDNS: at most udp_answer_limit (3) and 512 bytes with glue;
    # TC unset (enable_truncate off).
    r = udp(web.dns_port, "web.service.consul", "SRV")
    assert 1 <= len(rrs(r.answer, dns.rdatatype.SRV)) <= 3
    assert not r.flags & dns.flags.TC and len(r.to_wire()) <= 512


def test_a_records_and_case(web):
    r = big(web.dns_port, "WEB.Service.Consul", "A")
    addrs = {str(rd) for rd in rrs(r.answer, dns.rdatatype.A)}
    assert addrs == {"10.0.0.10", "10.0.0.12", "10.0.0.13", "10.0.0.14", "10.0.0.15",
                     "127.0.0.1"}


def test_order_is_shuffled(web):
    orders = set()
    for _ in range(30):
        r = tcp(web.dns_port, "web.service.consul", "SRV")
        orders.add(tuple(rd.port for rd in rrs(r.answer, dns.rdatatype.SRV)))
    assert len(orders) > 10
    assert all(sorted(o) == HEALTHY for o in orders)   # TCP: every instance


def test_ttl_check_failure_removes_instance(web):
    u = web.url
    assert requests.put(u + "/v1/agent/check/fail/service:web-a1").ok
    want = [p for p in HEALTHY if p != 9001]
    assert wait_until(lambda: srv_ports(web.dns_port) == want), srv_ports(web.dns_port)
    r = big(web.dns_port, "local.web.service.consul", "SRV")
    assert sorted(rd.port for rd in rrs(r.answer, dns.rdatatype.SRV)) == [9000, 9002, 9003]
    assert requests.put(u + "/v1/agent/check/warn/service:web-a1").ok
    assert wait_until(lambda: srv_ports(web.dns_port) == HEALTHY)


def test_node_lookup(web):
    r = udp(web.dns_port, "web-node-4.node.consul", "A")
    assert [str(rd) for rd in rrs(r.answer, dns.rdatatype.A)] == ["10.0.0.14"]
    assert [str(rd) for rd in rrs(r.additional, dns.rdatatype.TXT)] == ['"rack=r4"']
    r = udp(web.dns_port, "web-node-4.node.dc1.consul", "TXT")
    assert [str(rd) for rd in rrs(r.answer, dns.rdatatype.TXT)] == ['"rack=r4"']
    r = udp(web.dns_port, "no-such-node.node.consul", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN


def test_tags_and_rfc2782(web):
    p = web.dns_port
    assert srv_ports(p, "primary.web.service.consul") == [8000, 8002]
    assert srv_ports(p, "_web._primary.service.consul") == [8000, 8002]
    assert srv_ports(p, "_web._tcp.service.consul") == HEALTHY
    assert srv_ports(p, "secondary.web.service.dc1.consul") == [8003, 8004, 8005]
    r = udp(p, "nosuchtag.web.service.consul", "SRV")
    assert r.rcode() == dns.rcode.NXDOMAIN


def test_unknown_service_nxdomain_with_soa(web):
    r = udp(web.dns_port, "nothing.service.consul", "SRV")
    assert r.rcode() == dns.rcode.NXDOMAIN and not r.answer
    assert r.authority and r.authority[0].rdtype == dns.rdatatype.SOA


def test_other_datacenter_is_nxdomain(web):
    # No WAN forwarding yet: "No path to datacenter" -> NXDOMAIN, like ?dc=.
    r = udp(web.dns_port, "web.service.dc2.consul", "SRV")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert requests.get(web.url + "/v1/health/service/web?dc=dc2").status_code == 500
    assert len(requests.get(web.url + "/v1/health/service/web?dc=dc1").json()) == 10


def test_ptr(web):
    r = udp(web.dns_port, "12.0.0.10.in-addr.arpa", "PTR")
    assert [str(rd) for rd in r.answer[0]] == ["web-node-2.node.dc1.consul."]
    body = {"Node": "api-node", "Address": "10.5.0.1",
            "Service": {"Service": "api", "Address": "10.9.9.9", "Port": 1}}
    assert requests.put(web.url + "/v1/catalog/register", json=body).json() is True
    r = udp(web.dns_port, "9.9.9.10.in-addr.arpa", "PTR")
    assert [str(rd) for rd in r.answer[0]] == ["api.service.dc1.consul."]
    r = udp(web.dns_port, "99.99.99.10.in-addr.arpa", "PTR")
    assert r.rcode() == dns.rcode.NXDOMAIN


def test_servers_ns_soa(web):
    p = web.dns_port
    r = udp(p, "consul.service.consul", "SRV")
    assert [str(rd.target) for rd in rrs(r.answer, dns.rdatatype.SRV)] == [
        "test-node.node.dc1.consul."]
    r = udp(p, "consul", "NS")
    assert len(rrs(r.answer, dns.rdatatype.NS)) == 1
    r = udp(p, "consul", "SOA")
    assert rrs(r.answer, dns.rdatatype.SOA)


def test_addr_and_refused(web):
    r = udp(web.dns_port, "0a000001.addr.consul", "A")
    assert [str(rd) for rd in rrs(r.answer, dns.rdatatype.A)] == ["10.0.0.1"]
    r = udp(web.dns_port, "example.org", "A")
    assert r.rcode() == dns.rcode.REFUSED


def raw_udp(port, payload):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    try:
        s.sendto(payload, ("127.0.0.1", port))
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()


def test_garbage_formerr_and_tcp(web):
    p = web.dns_port
    resp = raw_udp(p, b"\xbe\xef\x01\x00\x00\x01" + b"\x00" * 6 + b"\xff\xfe\xfd")
    assert resp[:2] == b"\xbe\xef" and resp[3] & 0xF == 1      # FORMERR
    assert raw_udp(p, b"\x01") is None                            # no header
    # Garbage over TCP too, then a good query on a new connection.
    with socket.create_connection(("127.0.0.1", p), timeout=3) as s:
        junk = b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\x3fzz"
        s.sendall(struct.pack("!H", len(junk)) + junk)
        n = struct.unpack("!H", s.recv(2))[0]
        assert s.recv(n)[3] & 0xF == 1
    r = tcp(p, "web.service.consul", "SRV")
    assert sorted(rd.port for rd in rrs(r.answer, dns.rdatatype.SRV)) == HEALTHY
    r = udp(p, "web-node-3.node.consul", "A")
    assert r.rcode() == dns.rcode.NOERROR


def write_cfg(tmp_path, obj):
    path = tmp_path / "dns.json"
    path.write_text(json.dumps(obj))
    return str(path)


def stop_ok(a):
    code, out = a.stop()
    assert "ERROR: AddressSanitizer" not in out, out
    assert code == 0, out


def test_config_rpc_path_only_passing_ttls(tmp_path):
    """allow_stale=false: every lookup is an RPC to the leader (the client
    agent's path), answered after the call returns."""
    cfg = write_cfg(tmp_path, {
        "alt_domain": "cairn.",
        "dns_config": {"allow_stale": False, "only_passing": True, "node_ttl": "10s",
                       "service_ttl": {"web": "7s", "*": "3s"}, "udp_answer_limit": 5,
                       "enable_truncate": True, "soa": {"min_ttl": 11, "refresh": 99}}})
    a = Agent(extra=["-config-file", cfg])
    try:
        register_web(a.url)
        passing = [p for p in HEALTHY if p != 8000]   # warning dropped
        assert wait_until(lambda: srv_ports(a.dns_port) == passing), srv_ports(a.dns_port)
        # udp_answer_limit 5, then 512 bytes with glue; trimmed -> TC.
        r = udp(a.dns_port, "web.service.consul", "SRV")
        assert 1 <= len(rrs(r.answer, dns.rdatatype.SRV)) <= 5
        assert r.flags & dns.flags.TC and len(r.to_wire()) <= 512
        assert r.answer[0].ttl == 7
        r = big(a.dns_port, "web.service.consul", "A")
        assert {str(rd) for rd in rrs(r.answer, dns.rdatatype.A)} == {
            "10.0.0.12", "10.0.0.13", "10.0.0.14", "10.0.0.15", "127.0.0.1"}
        r = udp(a.dns_port, "web-node-2.node.cairn", "A")
        assert [str(rd) for rd in rrs(r.answer, dns.rdatatype.A)] == ["10.0.0.12"]
        assert r.answer[0].ttl == 10
        r = udp(a.dns_port, "consul.service.consul", "A")
        assert r.answer[0].ttl == 3
        r = udp(a.dns_port, "consul", "SOA")
        soa = rrs(r.answer, dns.rdatatype.SOA)[0]
        assert soa.minimum == 11 and soa.refresh == 99
        r = udp(a.dns_port, "12.0.0.10.in-addr.arpa", "PTR")
        assert [str(rd) for rd in r.answer[0]] == ["web-node-2.node.dc1.consul."]
        # A service address: found in the second step (every instance).
        body = {"Node": "api-node", "Address": "10.5.0.1",
                "Service": {"Service": "api", "Address": "10.9.9.9", "Port": 1}}
        assert requests.put(a.url + "/v1/catalog/register", json=body).json() is True
        r = udp(a.dns_port, "9.9.9.10.in-addr.arpa", "PTR")
        assert [str(rd) for rd in r.answer[0]] == ["api.service.dc1.consul."]
        r = udp(a.dns_port, "api.service.consul", "A")
        assert [str(rd) for rd in rrs(r.answer, dns.rdatatype.A)] == ["10.9.9.9"]
        r = udp(a.dns_port, "nothing.service.consul", "SRV")
        assert r.rcode() == dns.rcode.NXDOMAIN
    finally:
        stop_ok(a)


def test_bad_dns_config_refused(tmp_path):
    cfg = write_cfg(tmp_path, {"dns_config": {"no_such_knob": True}})
    p = subprocess.run([BIN, "agent", "-dev", "-config-file", cfg, "-http-port",
                        str(free_port()), "-dns-port", str(free_port())],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert "dns_config.no_such_knob" in p.stdout + p.stderr


def test_dns_disabled(tmp_path):
    a = Agent(extra=["-dns-port", "-1"])
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.3)
        q = dns.message.make_query("consul.service.consul", "SRV").to_wire()
        s.sendto(q, ("127.0.0.1", a.dns_port))
        with pytest.raises((socket.timeout, ConnectionRefusedError)):
            s.recv(512)
        s.close()
    finally:
        stop_ok(a)


def test_cluster_follower_answers(tmp_path):
    c = Cluster(tmp_path, 3)
    try:
        c.start()
        leader = c.wait_leader()
        followers = [s for s in c.servers if s is not leader]
        register_web(leader.url)
        for f in followers:
            assert wait_until(lambda: srv_ports(f.dns_port) == HEALTHY, timeout=15), \
                srv_ports(f.dns_port)
        f = followers[0]
        # The servers register themselves as the consul service.
        assert wait_until(lambda: len(rrs(big(f.dns_port, "consul.service.consul", "SRV")
                                          .answer, dns.rdatatype.SRV)) == 3, timeout=15)
        r = udp(f.dns_port, "consul", "NS")
        assert len(rrs(r.answer, dns.rdatatype.NS)) == 3
        # Leader's writes reach the follower's DNS: a failed check there.
        body = {"Node": "web-node-2", "Address": "10.0.0.12",
                "Check": {"CheckID": "n", "Name": "n", "Status": "critical"}}
        assert leader.put("/v1/catalog/register", json=body).json() is True
        want = [p for p in HEALTHY if p != 8002]
        assert wait_until(lambda: srv_ports(f.dns_port) == want, timeout=15)
    finally:
        c.close()


def test_client_agent(tmp_path):
    """A client agent answers DNS over RPC to the servers, including for a
    service registered on the client itself, and a failing check there
    drops its instance."""
    c = Cluster(tmp_path, 1)
    try:
        c.start()
        client = c.add_clients(1)[0]
        register_web(c.servers[0].url)
        assert wait_until(lambda: srv_ports(client.dns_port) == HEALTHY, timeout=20), \
            srv_ports(client.dns_port)
        body = {"Name": "api", "Port": 7000, "Check": {"CheckID": "api-ttl", "TTL": "60s"}}
        assert requests.put(client.url + "/v1/agent/service/register", json=body).ok
        assert requests.put(client.url + "/v1/agent/check/pass/api-ttl").ok
        assert wait_until(lambda: srv_ports(client.dns_port, "api.service.consul") == [7000],
                          timeout=20)
        assert requests.put(client.url + "/v1/agent/check/fail/api-ttl").ok
        assert wait_until(lambda: srv_ports(client.dns_port, "api.service.consul") == [],
                          timeout=20)
    finally:
        c.close()


def test_cluster_follower_forwards_without_stale(tmp_path):
    """allow_stale=false on a follower: each lookup is forwarded to the
    leader over the server port and answered when the reply comes back."""
    cfg = write_cfg(tmp_path, {"dns_config": {"allow_stale": False}})
    c = Cluster(tmp_path, 3, extra=["-config-file", cfg])
    try:
        c.start()
        leader = c.wait_leader()
        f = [s for s in c.servers if s is not leader][0]
        register_web(leader.url)
        assert wait_until(lambda: srv_ports(f.dns_port) == HEALTHY, timeout=15), \
            srv_ports(f.dns_port)
        r = udp(f.dns_port, "web-node-1.node.consul", "A")
        assert [str(rd) for rd in rrs(r.answer, dns.rdatatype.A)] == ["10.0.0.11"]
        r = udp(f.dns_port, "11.0.0.10.in-addr.arpa", "PTR")
        assert [str(rd) for rd in r.answer[0]] == ["web-node-1.node.dc1.consul."]
    finally:
        c.close()
