"""agent/dns/integ_test.py - dns_testserver over UDP and TCP, with dnspython.

Run by meson (suite 'integration') with DNS_TESTSERVER set to the binary.
Each server listens on an ephemeral port and prints "PORT <n>" first.
"""
import os
import signal
import socket
import struct
import subprocess

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

BIN = os.environ.get("DNS_TESTSERVER", "build/src/agent/dns/dns_testserver")


class Server:
    def __init__(self, *args):
        self.proc = subprocess.Popen([BIN, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=10)
        assert self.proc.returncode == 0, err
        return err


@pytest.fixture
def srv():
    s = Server()
    yield s
    s.stop()


def udp(s, name, rdtype, **kw):
    q = dns.message.make_query(name, rdtype, **kw)
    return dns.query.udp(q, "127.0.0.1", port=s.port, timeout=3)


def tcp(s, name, rdtype, **kw):
    q = dns.message.make_query(name, rdtype, **kw)
    return dns.query.tcp(q, "127.0.0.1", port=s.port, timeout=3)


def rrs(msg, section, rdtype):
    return [rd for rrset in section if rrset.rdtype == rdtype for rd in rrset]


def test_srv_udp_tcp_edns(srv):
    r = udp(srv, "web.service.consul", "SRV")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA and not r.flags & dns.flags.TC
    srvs = rrs(r, r.answer, dns.rdatatype.SRV)
    assert len(srvs) == 3                      # udp_answer_limit
    assert all(rd.priority == 1 and rd.weight == 1 for rd in srvs)
    targets = {str(rd.target) for rd in srvs}
    glue = {str(rrset.name) for rrset in r.additional
            if rrset.rdtype == dns.rdatatype.A}
    assert targets == glue
    r = udp(srv, "web.service.consul", "SRV", use_edns=0, payload=4096)
    assert len(rrs(r, r.answer, dns.rdatatype.SRV)) == 10
    assert r.edns == 0 and r.payload == 4096
    r = tcp(srv, "web.service.consul", "SRV")
    assert len(rrs(r, r.answer, dns.rdatatype.SRV)) == 10
    ports = sorted(rd.port for rd in rrs(r, r.answer, dns.rdatatype.SRV))
    assert ports == list(range(8001, 8011))


def test_shuffled(srv):
    orders = set()
    for _ in range(30):
        r = tcp(srv, "web.service.consul", "A")
        orders.add(tuple(str(rd) for rd in rrs(r, r.answer, dns.rdatatype.A)))
    assert len(orders) > 20


def test_names_and_rcodes(srv):
    r = udp(srv, "web-3.node.consul", "A")
    assert [str(rd) for rd in rrs(r, r.answer, dns.rdatatype.A)] == ["10.0.0.4"]
    assert [str(rd) for rd in rrs(r, r.additional, dns.rdatatype.TXT)] == ['"rack=r3"']
    r = udp(srv, "db-1.node.dc1.consul", "TXT")
    assert [str(rd) for rd in rrs(r, r.answer, dns.rdatatype.TXT)] == ['"plain value"']
    r = udp(srv, "replica.db.service.consul", "SRV")
    assert [(rd.weight, rd.port) for rd in rrs(r, r.answer, dns.rdatatype.SRV)] == [(3, 5432)]
    r = udp(srv, "_db._primary.service.consul", "SRV")
    assert len(r.answer) == 1
    r = udp(srv, "broken.service.consul", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.authority[0].rdtype == dns.rdatatype.SOA
    r = udp(srv, "web.service.consul", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and r.authority
    r = udp(srv, "web.service.dc3.consul", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    r = udp(srv, "example.org", "A")
    assert r.rcode() == dns.rcode.REFUSED
    r = udp(srv, "consul", "NS")
    assert len(r.answer[0]) == 3
    r = udp(srv, "4.0.0.10.in-addr.arpa", "PTR")
    assert str(r.answer[0][0]) == "web-3.node.dc1.consul."
    r = udp(srv, "api.service.consul", "SRV")
    assert {str(rd.target) for rd in rrs(r, r.answer, dns.rdatatype.SRV)} == {
        "c0a80701.addr.dc1.consul.",
        "20010db8000000000000000000000007.addr.dc1.consul."}
    r = udp(srv, "pq.query.consul", "A")
    assert len(r.answer[0]) == 3
    r = udp(srv, "consul", "AXFR")
    assert r.rcode() == dns.rcode.NOTIMP


def raw_udp(port, payload):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    try:
        s.sendto(payload, ("127.0.0.1", port))
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()


def test_malformed(srv):
    assert raw_udp(srv.port, b"\x01\x02\x03") is None            # no header
    resp = raw_udp(srv.port, b"\xbe\xef\x01\x00\x00\x01" + b"\x00" * 6 + b"\xff")
    assert resp[:2] == b"\xbe\xef" and resp[3] & 0xF == 1        # FORMERR
    assert raw_udp(srv.port, b"\x00\x01\x81\x00" + b"\x00" * 8) is None  # QR
    # Still serving.
    assert udp(srv, "web-1.node.consul", "A").rcode() == dns.rcode.NOERROR
    err = srv.stop()
    assert "formerr=1" in err and "dropped_short=1" in err
    srv.stop = lambda: None


def test_tcp_pipelining_and_bad_frames(srv):
    q1 = dns.message.make_query("web-1.node.consul", "A", id=101).to_wire()
    q2 = dns.message.make_query("db.service.consul", "SRV", id=102).to_wire()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=3) as s:
        s.sendall(struct.pack("!H", len(q1)) + q1 + struct.pack("!H", len(q2)) + q2)
        ids = set()
        buf = b""
        while len(ids) < 2:
            buf += s.recv(65535)
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                ids.add(dns.message.from_wire(buf[2:2 + n]).id)
                buf = buf[2 + n:]
        assert ids == {101, 102}
        s.sendall(b"\xff\xff")          # a frame no query can need
        assert s.recv(10) == b""        # closed


def test_async_truncate_alt():
    s = Server("--async", "--truncate", "--alt-domain", "cairn.test")
    try:
        r = udp(s, "web.service.cairn.test", "SRV")
        assert r.flags & dns.flags.TC
        assert all(str(rd.target).endswith(".node.dc1.cairn.test.")
                   for rd in rrs(r, r.answer, dns.rdatatype.SRV))
        r = tcp(s, "web.service.cairn.test", "SRV")
        assert not r.flags & dns.flags.TC and len(r.answer[0]) == 10
    finally:
        s.stop()
