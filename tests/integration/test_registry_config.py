"""Config-file services, reload (HTTP, SIGHUP, `cairn reload`), persistence
across restarts, and catalog replication in a 3-server cluster."""
import json
import os
import signal
import subprocess

import pytest
import requests

from cluster import Cluster
from conftest import BIN, Agent, free_port, wait_until


def write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def test_config_dir_services_and_reload(tmp_path):
    d = tmp_path / "conf"
    d.mkdir()
    write(d / "web.json", {"service": {"name": "web", "port": 80, "tags": ["a"],
                                       "check": {"id": "web-ttl", "ttl": "30s"}}})
    write(d / "node.json", {"check": {"id": "disk", "name": "disk", "ttl": "30s"}})
    a = Agent(extra=["-config-dir", str(d)])
    try:
        u = a.url
        assert wait_until(lambda: requests.get(u + "/v1/catalog/service/web").json())
        assert requests.put(u + "/v1/agent/check/pass/web-ttl").status_code == 200
        assert requests.get(u + "/v1/agent/checks").json()["disk"]["Status"] == "critical"
        # Change the tags: reload re-registers; the unchanged check keeps
        # running with its status.
        write(d / "web.json", {"service": {"name": "web", "port": 80, "tags": ["b"],
                                           "check": {"id": "web-ttl", "ttl": "30s"}}})
        assert requests.put(u + "/v1/agent/reload").status_code == 200
        assert requests.get(u + "/v1/agent/services").json()["web"]["Tags"] == ["b"]
        assert requests.get(u + "/v1/agent/checks").json()["web-ttl"]["Status"] == "passing"
        assert wait_until(lambda: requests.get(u + "/v1/catalog/service/web").json()[0]
                          ["ServiceTags"] == ["b"])
        # An API registration survives reloads; a removed file's service goes.
        assert requests.put(u + "/v1/agent/service/register", json={"Name": "api"}).ok
        os.unlink(d / "web.json")
        a.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "web" not in requests.get(u + "/v1/agent/services").json())
        assert "api" in requests.get(u + "/v1/agent/services").json()
        assert wait_until(lambda: requests.get(u + "/v1/catalog/service/web").json() == [])
        # `cairn reload` brings a new file in.
        write(d / "db.json", {"services": [{"name": "db", "port": 5432}]})
        r = subprocess.run([BIN, "reload", "-http-addr", a.addr], capture_output=True, text=True)
        assert r.returncode == 0 and "reload triggered" in r.stdout
        assert "db" in requests.get(u + "/v1/agent/services").json()
        # A broken file fails the reload and keeps the running config.
        (d / "bad.json").write_text("{")
        assert requests.put(u + "/v1/agent/reload").status_code == 500
        assert "db" in requests.get(u + "/v1/agent/services").json()
    finally:
        code, out = a.stop()
        assert "ERROR: AddressSanitizer" not in out and "runtime error:" not in out, out
        assert code == 0, out


class Server1:
    def __init__(self, data_dir, conf_dir):
        self.http = free_port()
        self.args = [BIN, "agent", "-server", "-bootstrap-expect", "1", "-data-dir", data_dir,
                     "-node", "p1", "-bind", "127.0.0.1", "-server-port", str(free_port()),
                     "-http-port", str(self.http), "-dns-port", str(free_port()),
                     "-config-dir", conf_dir, "-raft-tick", "20ms"]
        self.url = "http://127.0.0.1:%d" % self.http

    def start(self):
        # A log file, not a pipe nobody reads until stop (a full pipe would
        # block the agent).
        self.log = open(self.args[self.args.index("-data-dir") + 1] + ".log", "ab+")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        assert wait_until(lambda: requests.get(self.url + "/v1/status/leader", timeout=1).json(),
                          timeout=20)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)
        self.log.seek(0)
        out = self.log.read().decode(errors="replace")
        self.log.close()
        assert "ERROR: AddressSanitizer" not in out and "runtime error:" not in out, out
        assert self.proc.returncode == 0, out


def test_persistence_across_restart(tmp_path):
    data, conf = tmp_path / "data", tmp_path / "conf"
    conf.mkdir()
    write(conf / "cfg.json", {"service": {"name": "fromcfg"}})
    s = Server1(str(data), str(conf))
    s.start()
    try:
        body = {"Name": "web", "ID": "web-1", "Port": 8080, "Tags": ["v1"],
                "Checks": [{"CheckID": "web-ttl", "TTL": "60s"}]}
        assert requests.put(s.url + "/v1/agent/service/register", json=body).ok
        assert requests.put(s.url + "/v1/agent/check/register",
                            json={"Name": "mem", "TTL": "60s"}).ok
        assert requests.put(s.url + "/v1/agent/service/maintenance/web-1?enable=true&reason=r").ok
        assert requests.put(s.url + "/v1/agent/service/register", json={"Name": "gone"}).ok
        assert requests.put(s.url + "/v1/agent/service/deregister/gone").ok
    finally:
        s.stop()
    assert os.listdir(data / "services")  # Persisted as files.
    s.start()
    try:
        svcs = requests.get(s.url + "/v1/agent/services").json()
        assert set(svcs) == {"web-1", "fromcfg"}
        assert svcs["web-1"]["Tags"] == ["v1"] and svcs["web-1"]["Port"] == 8080
        checks = requests.get(s.url + "/v1/agent/checks").json()
        assert {"web-ttl", "mem", "_service_maintenance:web-1"} <= set(checks)
        assert checks["_service_maintenance:web-1"]["Notes"] == "r"
        assert wait_until(lambda: [x["ServiceID"] for x in
                                   requests.get(s.url + "/v1/catalog/service/web").json()] == ["web-1"],
                          timeout=30)
        assert wait_until(lambda: requests.get(s.url + "/v1/catalog/service/gone").json() == [],
                          timeout=30)
    finally:
        s.stop()


def test_catalog_replicates_in_cluster(tmp_path):
    cl = Cluster(tmp_path, 3).start()
    try:
        s1, s2, s3 = cl.servers
        # Every server registers its node, the consul service and serfHealth.
        assert wait_until(lambda: len(s3.get("/v1/catalog/service/consul").json()) == 3, timeout=20)
        body = {"Node": "ext", "Address": "10.1.2.3",
                "Service": {"Service": "db", "ID": "db1", "Port": 5432}}
        assert s1.put("/v1/catalog/register", data=json.dumps(body)).json() is True
        for s in (s2, s3):
            assert wait_until(lambda: s.get("/v1/catalog/service/db?stale").json(), timeout=10)
            assert s.get("/v1/catalog/service/db").json()[0]["Address"] == "10.1.2.3"
        # An agent service on a follower reaches the catalog through the leader.
        assert s2.put("/v1/agent/service/register", data=json.dumps({"Name": "web"})).ok
        assert wait_until(lambda: [x["Node"] for x in s3.get("/v1/catalog/service/web").json()]
                          == ["s2"], timeout=10)
        sid = s3.put("/v1/session/create", data=json.dumps({"TTL": "10s"})).json()["ID"]
        assert s1.put("/v1/kv/l?acquire=" + sid).json() is True
        assert s2.put("/v1/session/renew/" + sid).status_code == 200
        assert s1.get("/v1/session/info/" + sid).json()[0]["ID"] == sid
    finally:
        for s in cl.servers:
            s.stop()
