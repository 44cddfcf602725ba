"""Service registry end to end: agent services with real HTTP checks, the
catalog and health endpoints, filters, maintenance, events and txn
catalog verbs, with requests and the unchanged Debian python3-consul."""
import http.server
import threading
import time

import consul
import pytest
import requests

from conftest import free_port, wait_until


@pytest.fixture(scope="module")
def c(agent):
    host, port = agent.addr.split(":")
    return consul.Consul(host=host, port=int(port))


class HealthServer:
    """A real local HTTP service whose /health answers 200."""

    def __init__(self):
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def kill(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def health(agent, name, **params):
    r = requests.get(agent.url + "/v1/health/service/" + name, params=params, timeout=40)
    assert r.status_code == 200, r.text
    return int(r.headers["X-Consul-Index"]), r.json()


def test_http_check_flips_and_blocking_query_wakes(agent, c):
    srv = HealthServer()
    url = "http://127.0.0.1:%d/health" % srv.port
    assert c.agent.service.register("web", service_id="web-1", port=srv.port, tags=["v1"],
                                    check=consul.Check.http(url, interval="1s")) is True
    assert wait_until(lambda: len(health(agent, "web", passing="")[1]) == 1, timeout=10)
    _, nodes = c.catalog.service("web")
    assert [n["ServiceID"] for n in nodes] == ["web-1"]
    assert nodes[0]["ServiceTags"] == ["v1"] and nodes[0]["ServicePort"] == srv.port
    index, entries = health(agent, "web")
    chk = [x for x in entries[0]["Checks"] if x["CheckID"] == "service:web-1"][0]
    assert chk["Status"] == "passing" and chk["Type"] == "http"
    assert chk["Output"].startswith("HTTP GET %s: 200 OK Output: ok" % url)

    out = {}

    def block():
        t0 = time.monotonic()
        out["r"] = health(agent, "web", index=index, wait="30s")
        out["t"] = time.monotonic() - t0

    t = threading.Thread(target=block)
    t.start()
    time.sleep(0.2)
    srv.kill()
    t.join(20)
    assert not t.is_alive()
    new_index, entries = out["r"]
    assert new_index > index
    assert out["t"] < 5  # Within one interval (1 s) plus the dial failure.
    chk = [x for x in entries[0]["Checks"] if x["CheckID"] == "service:web-1"][0]
    assert chk["Status"] == "critical"
    assert health(agent, "web", passing="1")[1] == []
    assert c.agent.service.deregister("web-1") is True
    assert wait_until(lambda: c.catalog.service("web")[1] == [])


def test_agent_endpoints_and_ttl(agent, c):
    assert c.agent.service.register("api", service_id="api-1", port=9000,
                                    check=consul.Check.ttl("10s")) is True
    svcs = c.agent.services()
    assert svcs["api-1"]["Service"] == "api" and svcs["api-1"]["Weights"] == {
        "Passing": 1, "Warning": 1}
    r = requests.get(agent.url + "/v1/agent/health/service/id/api-1", timeout=5)
    assert r.status_code == 503 and r.json()["AggregatedStatus"] == "critical"
    assert c.agent.check.ttl_pass("service:api-1", "all good") is True
    r = requests.get(agent.url + "/v1/agent/health/service/id/api-1?format=text", timeout=5)
    assert (r.status_code, r.text) == (200, "passing")
    assert c.agent.check.ttl_warn("service:api-1") is True
    r = requests.get(agent.url + "/v1/agent/health/service/name/api", timeout=5)
    assert r.status_code == 429 and r.json()[0]["AggregatedStatus"] == "warning"
    assert requests.get(agent.url + "/v1/agent/health/service/id/nope").status_code == 404
    checks = c.agent.checks()
    assert checks["service:api-1"]["Status"] == "warning"
    assert checks["service:api-1"]["ServiceTags"] == []
    # The catalog follows (anti-entropy at once on a status change).
    assert wait_until(lambda: c.health.checks("api")[1][0]["Status"] == "warning")
    # Hash-based blocking on /v1/agent/service/:id.
    r = requests.get(agent.url + "/v1/agent/service/api-1", timeout=5)
    h = r.headers["X-Consul-ContentHash"]
    assert r.json()["ContentHash"] == h
    out = {}
    t = threading.Thread(target=lambda: out.setdefault(
        "r", requests.get(agent.url + "/v1/agent/service/api-1",
                          params={"hash": h, "wait": "20s"}, timeout=30)))
    t.start()
    time.sleep(0.2)
    assert c.agent.service.register("api", service_id="api-1", port=9001,
                                    check=consul.Check.ttl("10s")) is True
    t.join(10)
    assert out["r"].json()["Port"] == 9001 and out["r"].headers["X-Consul-ContentHash"] != h
    r = requests.put(agent.url + "/v1/agent/check/update/service:api-1",
                     json={"Status": "bogus"}, timeout=5)
    assert r.status_code == 400 and r.text == "Invalid check status: 'bogus'"
    assert requests.put(agent.url + "/v1/agent/service/deregister/nope").status_code == 404
    assert c.agent.service.deregister("api-1") is True


def test_register_validation(agent):
    u = agent.url + "/v1/agent/service/register"
    r = requests.put(u, json={"Port": 1})
    assert (r.status_code, r.text) == (400, "Missing service name")
    r = requests.put(u, json={"Name": "x", "Address": "0.0.0.0"})
    assert (r.status_code, r.text) == (400, "Invalid service address")
    r = requests.put(u, json={"Name": "x", "Meta": {"consul-x": "1"}})
    assert r.status_code == 400 and r.text.startswith("Invalid Service Meta: ")
    r = requests.put(u, json={"Name": "x", "Check": {"TTL": "10s", "Interval": "10s"}})
    assert r.status_code == 400 and r.text.startswith("Invalid check: ")
    r = requests.put(agent.url + "/v1/agent/check/register", json={"TTL": "10s"})
    assert (r.status_code, r.text) == (400, "Missing check name")
    r = requests.put(agent.url + "/v1/agent/check/register",
                     json={"Name": "c", "TTL": "10s", "ServiceID": "missing"})
    assert r.status_code == 404


def test_replace_existing_checks(agent, c):
    u = agent.url + "/v1/agent/service/register"
    body = {"Name": "rep", "Checks": [{"TTL": "10s"}, {"TTL": "20s"}]}
    assert requests.put(u, json=body).status_code == 200
    assert {"service:rep:1", "service:rep:2"} <= set(c.agent.checks())
    body = {"Name": "rep", "Checks": [{"CheckID": "service:rep:1", "TTL": "10s"}]}
    assert requests.put(u + "?replace-existing-checks", json=body).status_code == 200
    ids = {k for k in c.agent.checks() if k.startswith("service:rep")}
    assert ids == {"service:rep:1"}
    assert c.agent.service.deregister("rep") is True


def test_catalog_register_and_reads(agent, c):
    assert c.catalog.register("ext1", "10.0.0.9", service={
        "Service": "redis", "ID": "redis-1", "Port": 6379, "Tags": ["primary", "v6"]},
        check={"CheckID": "redis-alive", "Name": "alive", "Status": "passing",
               "ServiceID": "redis-1"}) is True
    _, nodes = c.catalog.nodes()
    assert "ext1" in [n["Node"] for n in nodes]
    _, services = c.catalog.services()
    assert services["redis"] == ["primary", "v6"] and services["consul"] == []
    _, inst = c.catalog.service("redis", tag="primary")
    assert [i["ServiceID"] for i in inst] == ["redis-1"]
    r = requests.get(agent.url + "/v1/catalog/service/redis?tag=primary&tag=nope")
    assert r.json() == []
    _, node = c.catalog.node("ext1")
    assert node["Services"]["redis-1"]["Port"] == 6379
    r = requests.get(agent.url + "/v1/catalog/node-services/ext1")
    assert [s["ID"] for s in r.json()["Services"]] == ["redis-1"]
    assert requests.get(agent.url + "/v1/catalog/node/nobody").json() is None
    assert requests.get(agent.url + "/v1/catalog/datacenters").json() == ["dc1"]
    _, checks = c.health.state("passing")
    assert "redis-alive" in [x["CheckID"] for x in checks]
    assert requests.get(agent.url + "/v1/health/state/bogus").json() == []
    _, checks = c.health.node("ext1")
    assert [x["CheckID"] for x in checks] == ["redis-alive"]
    r = requests.get(agent.url + "/v1/health/service/redis?passing=maybe")
    assert (r.status_code, r.text) == (400, "Invalid value for ?passing")
    # Filters, and Consul's error for a bad one.
    r = requests.get(agent.url + "/v1/catalog/service/redis",
                     params={"filter": 'ServiceTags contains "v6" and ServicePort == 6379'})
    assert [i["ServiceID"] for i in r.json()] == ["redis-1"]
    r = requests.get(agent.url + "/v1/health/service/redis",
                     params={"filter": 'Checks.Status == "critical"'})
    assert r.json() == []
    r = requests.get(agent.url + "/v1/catalog/nodes", params={"filter": "Node =="})
    assert r.status_code == 500
    assert r.text.startswith("Failed to create boolean expression evaluator: ")
    r = requests.get(agent.url + "/v1/catalog/services", params={"filter": 'ServiceName == "redis"'})
    assert r.json() == {"redis": ["primary", "v6"]}
    r = requests.get(agent.url + "/v1/catalog/nodes", params={"node-meta": "consul-network-segment:"})
    assert "ext1" not in [n["Node"] for n in r.json()]
    assert c.catalog.deregister("ext1", service_id="redis-1") is True
    _, inst = c.catalog.service("redis")
    assert inst == []
    assert c.catalog.deregister("ext1") is True


def test_catalog_blocking_only_wakes_for_its_service(agent, c):
    c.catalog.register("ext2", "10.0.0.2", service={"Service": "a", "ID": "a1"})
    index = int(c.catalog.service("a")[0])
    out = {}

    def block():
        t0 = time.monotonic()
        out["r"] = c.catalog.service("a", index=index, wait="2s")
        out["t"] = time.monotonic() - t0

    t = threading.Thread(target=block)
    t.start()
    time.sleep(0.2)
    c.catalog.register("ext2", "10.0.0.2", service={"Service": "b", "ID": "b1"})
    t.join(10)
    assert out["t"] >= 1.9  # Another service's write did not wake it.
    t = threading.Thread(target=block)
    t.start()
    time.sleep(0.2)
    c.catalog.register("ext2", "10.0.0.2", service={"Service": "a", "ID": "a2"})
    t.join(10)
    assert out["t"] < 1.5 and int(out["r"][0]) > index
    c.catalog.deregister("ext2")


def test_maintenance(agent, c):
    c.agent.service.register("m", service_id="m1", check=consul.Check.ttl("30s"))
    c.agent.check.ttl_pass("service:m1")
    assert wait_until(lambda: len(health(agent, "m", passing="")[1]) == 1)
    assert c.agent.service.maintenance("m1", True, "upgrading") is True
    assert wait_until(lambda: health(agent, "m", passing="")[1] == [])
    chk = c.agent.checks()["_service_maintenance:m1"]
    assert chk["Name"] == "Service Maintenance Mode" and chk["Notes"] == "upgrading"
    r = requests.get(agent.url + "/v1/agent/health/service/id/m1?format=text")
    assert (r.status_code, r.text) == (503, "maintenance")
    assert c.agent.service.maintenance("m1", False) is True
    assert wait_until(lambda: len(health(agent, "m", passing="")[1]) == 1)
    assert c.agent.maintenance(True) is True
    assert wait_until(lambda: health(agent, "m", passing="")[1] == [])
    assert c.agent.checks()["_node_maintenance"]["Notes"].startswith("Maintenance mode is enabled")
    assert c.agent.maintenance(False) is True
    assert wait_until(lambda: len(health(agent, "m", passing="")[1]) == 1)
    r = requests.put(agent.url + "/v1/agent/maintenance")
    assert (r.status_code, r.text) == (400, "Missing value for enable")
    c.agent.service.deregister("m1")


def test_anti_entropy_removes_stale_catalog_entries(agent, c):
    """Catalog entries on the agent's node that the agent does not have are
    removed by the full sync (a reload runs one at once); serfHealth and
    the consul service stay."""
    node = requests.get(agent.url + "/v1/agent/self").json()["Config"]["NodeName"]
    c.catalog.register(node, "127.0.0.1", service={"Service": "ghost", "ID": "ghost"},
                       check={"CheckID": "ghost-check", "Name": "g", "Status": "passing"})
    assert c.catalog.service("ghost")[1] != []
    assert requests.put(agent.url + "/v1/agent/reload").status_code == 200
    assert wait_until(lambda: c.catalog.service("ghost")[1] == [])
    assert wait_until(lambda: "ghost-check" not in [x["CheckID"] for x in c.health.node(node)[1]])
    assert "serfHealth" in [x["CheckID"] for x in c.health.node(node)[1]]
    assert c.catalog.service("consul")[1] != []


def test_events(agent, c):
    idx, _ = c.event.list()
    assert c.event.fire("deploy", "v42") is not None
    # Delivery goes through the gossip layer, as Consul's: soon, not at once.
    assert wait_until(lambda: c.event.list(name="deploy")[1])
    index, events = c.event.list(name="deploy")
    assert events[-1]["Name"] == "deploy" and events[-1]["Payload"] == b"v42"
    out = {}
    t = threading.Thread(target=lambda: out.setdefault(
        "r", requests.get(agent.url + "/v1/event/list",
                          params={"name": "deploy", "index": index, "wait": "20s"}, timeout=30)))
    t.start()
    time.sleep(0.2)
    requests.put(agent.url + "/v1/event/fire/deploy", data=b"v43")
    t.join(10)
    r = out["r"]
    assert int(r.headers["X-Consul-Index"]) != int(index)
    assert r.json()[-1]["Payload"] == "djQz"
    r = requests.put(agent.url + "/v1/event/fire/x?tag=t")
    assert (r.status_code, r.text) == (500, "Cannot provide tag filter without service filter")
    r = requests.put(agent.url + "/v1/event/fire/skipped?node=^nomatch$")
    assert r.status_code == 200
    assert requests.put(agent.url + "/v1/event/fire/after").ok
    assert wait_until(lambda: "after" in [e["Name"] for e in c.event.list()[1]])
    assert "skipped" not in [e["Name"] for e in c.event.list()[1]]
    # Service and tag filters match this agent's own services.
    assert requests.put(agent.url + "/v1/agent/service/register",
                        json={"Name": "evsvc", "Tags": ["blue"]}).ok
    try:
        for name, q in (("svc-hit", "service=^evsvc$&tag=^bl"), ("svc-miss", "service=^evsvc$&tag=^red"),
                        ("svc-none", "service=^nosuch$")):
            assert requests.put(agent.url + "/v1/event/fire/%s?%s" % (name, q)).ok
        assert requests.put(agent.url + "/v1/event/fire/after2").ok
        assert wait_until(lambda: "after2" in [e["Name"] for e in c.event.list()[1]])
        names = [e["Name"] for e in c.event.list()[1]]
        assert "svc-hit" in names and "svc-miss" not in names and "svc-none" not in names
    finally:
        requests.put(agent.url + "/v1/agent/service/deregister/evsvc")


def test_txn_catalog_verbs(agent):
    ops = [{"Node": {"Verb": "set", "Node": {"Node": "tx1", "Address": "10.9.9.9"}}},
           {"Service": {"Verb": "set", "Node": "tx1",
                        "Service": {"ID": "s1", "Service": "txsvc", "Port": 1}}},
           {"Check": {"Verb": "set", "Check": {"Node": "tx1", "CheckID": "c1", "Name": "c",
                                               "Status": "passing", "ServiceID": "s1"}}}]
    r = requests.put(agent.url + "/v1/txn", json=ops)
    assert r.status_code == 200, r.text
    res = r.json()["Results"]
    assert res[0]["Node"]["Node"] == "tx1" and res[1]["Service"]["ID"] == "s1"
    assert res[2]["Check"]["CheckID"] == "c1"
    r = requests.put(agent.url + "/v1/txn",
                     json=[{"Service": {"Verb": "get", "Node": "tx1", "Service": {"ID": "nope"}}}])
    assert r.status_code == 409 and r.json()["Errors"]
    r = requests.put(agent.url + "/v1/txn", json=[{"Node": {"Verb": "delete", "Node": {"Node": "tx1"}}}])
    assert r.status_code == 200
    assert requests.get(agent.url + "/v1/catalog/node/tx1").json() is None


def test_big_lists_cached_by_index(agent):
    """Lists over 16 KiB are kept by result index (agent) and encoded once
    per index (server): every change, tag, filter and format must still
    show, to gzip and identity readers, polling and blocking."""
    def reg(i, status="passing", tags=("v1",)):
        r = requests.put(agent.url + "/v1/catalog/register", json={
            "Node": "bl-%d" % i, "Address": "10.8.0.%d" % (i % 250),
            "Service": {"ID": "bl", "Service": "bl", "Port": 7000 + i, "Tags": list(tags),
                        "Meta": {"pad": "y" * 100}},
            "Check": {"CheckID": "c", "Name": "c", "ServiceID": "bl", "Status": status}})
        assert r.json() is True
    for i in range(150):
        reg(i, tags=("v1", "even" if i % 2 == 0 else "odd"))
    s = requests.Session()  # gzip, keep-alive
    ident = {"Accept-Encoding": "identity"}
    url = agent.url + "/v1/health/service/bl"

    def ports(r):
        assert r.status_code == 200, r.text
        return sorted(x["Service"]["Port"] for x in r.json())
    r1 = s.get(url + "?passing")
    assert r1.headers.get("Content-Encoding") == "gzip" and len(ports(r1)) == 150
    r2 = s.get(url + "?passing", headers=ident)
    assert "Content-Encoding" not in r2.headers and r2.json() == r1.json()
    assert int(r2.headers["Content-Length"]) > 16384
    # Different requests, different answers (nothing shared by mistake).
    assert len(ports(s.get(url + "?passing&tag=even"))) == 75
    assert ports(s.get(url + "?passing&filter=Service.Port%3D%3D7003")) == [7003]
    assert s.get(url + "?passing&pretty").json() == r1.json()
    idx = int(r1.headers["X-Consul-Index"])
    # A blocking reader parked at the current index wakes with the change.
    got = {}

    def block():
        got["r"] = requests.get(url + "?passing&index=%d&wait=30s" % idx, timeout=40)
    t = threading.Thread(target=block)
    t.start()
    time.sleep(0.3)
    reg(3, status="critical", tags=("v1", "odd"))
    t.join(40)
    assert 7003 not in ports(got["r"]) and len(ports(got["r"])) == 149
    assert int(got["r"].headers["X-Consul-Index"]) > idx
    for hdrs in ({}, ident):
        assert len(ports(s.get(url + "?passing", headers=hdrs))) == 149
        assert ports(s.get(url + "?passing&filter=Service.Port%3D%3D7003", headers=hdrs)) == []
    assert len(ports(s.get(url))) == 150  # Not ?passing: still listed.
    # The timing parameters are not part of what is cached, the rest is.
    assert len(ports(s.get(url + "?passing&index=1&wait=1s"))) == 149
    reg(3, status="passing", tags=("v1", "odd"))
    assert len(ports(s.get(url + "?passing&tag=odd"))) == 75
