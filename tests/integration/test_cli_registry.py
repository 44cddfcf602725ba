"""`cairn services|catalog|maint|lock|watch` against a dev agent
(Consul's flags, texts and exit codes). Waits are polls with deadlines;
ordering, not durations, is asserted."""
import base64
import json
import os
import re
import select
import signal
import subprocess
import time

import requests

from conftest import BIN, cli, wait_until


def env_for(agent):
    env = dict(os.environ)
    env.pop("CAIRN_HTTP_ADDR", None)
    env["CONSUL_HTTP_ADDR"] = agent.addr
    return env


def test_help():
    for args in (["services", "register", "-h"], ["services", "deregister", "--help"],
                 ["catalog", "datacenters", "-h"], ["catalog", "nodes", "-h"],
                 ["catalog", "services", "-help"], ["maint", "-h"], ["lock", "-h"],
                 ["watch", "-h"], ["services"], ["catalog"]):
        p = subprocess.run([BIN] + args, capture_output=True, text=True)
        assert p.returncode == 0, args
        assert "Usage: cairn" in p.stdout, args


def test_services_register_deregister(agent, tmp_path):
    code, out, err = cli(agent, "services", "register", "-name=web", "-id=web-1", "-port=8080",
                         "-address=10.0.0.5", "-tag=a", "-tag", "b", "-meta=env=prod")
    assert code == 0 and out == "Registered service: web\n", err
    svc = requests.get(agent.url + "/v1/agent/services").json()["web-1"]
    assert svc["Service"] == "web" and svc["Port"] == 8080 and svc["Address"] == "10.0.0.5"
    assert svc["Tags"] == ["a", "b"] and svc["Meta"] == {"env": "prod"}

    f = tmp_path / "svcs.json"
    f.write_text(json.dumps({"services": [{"name": "db", "port": 5432, "tags": ["primary"]},
                                          {"Name": "cache", "ID": "cache-1"}]}))
    g = tmp_path / "one.json"
    g.write_text(json.dumps({"service": {"name": "queue"}}))
    code, out, err = cli(agent, "services", "register", "-tag=extra", str(f), str(g))
    assert code == 0, err
    assert out == "Registered service: db\nRegistered service: cache\nRegistered service: queue\n"
    svcs = requests.get(agent.url + "/v1/agent/services").json()
    assert svcs["db"]["Tags"] == ["primary", "extra"] and svcs["db"]["Port"] == 5432
    assert "cache-1" in svcs and "queue" in svcs

    h = tmp_path / "web.hcl"
    h.write_text('service { name = "x" }')
    code, _, err = cli(agent, "services", "register", str(h))
    assert code == 1 and "HCL" in err
    code, _, err = cli(agent, "services", "register")
    assert code == 1 and "requires at least one argument or flags" in err
    code, _, err = cli(agent, "services", "register", "-name=x", str(g))
    assert code == 1 and "not both" in err
    code, _, err = cli(agent, "services", "register", "-name=bad", "-meta=nokey")
    assert code == 1

    code, out, _ = cli(agent, "services", "deregister", str(f))
    assert code == 0 and out == "Deregistered service: db\nDeregistered service: cache-1\n"
    code, out, _ = cli(agent, "services", "deregister", "-id=web-1")
    assert code == 0 and out == "Deregistered service: web-1\n"
    assert cli(agent, "services", "deregister", str(g))[0] == 0
    svcs = requests.get(agent.url + "/v1/agent/services").json()
    assert not {"web-1", "db", "cache-1", "queue"} & set(svcs)
    code, _, err = cli(agent, "services", "deregister")
    assert code == 1 and "requires at least one argument or -id" in err


def test_catalog_output(agent):
    assert cli(agent, "services", "register", "-name=api", "-tag=v2", "-tag=v1")[0] == 0
    assert wait_until(lambda: "api" in requests.get(agent.url + "/v1/catalog/services").json())
    code, out, _ = cli(agent, "catalog", "datacenters")
    assert code == 0 and out == "dc1\n"
    node = requests.get(agent.url + "/v1/catalog/nodes").json()[0]
    code, out, _ = cli(agent, "catalog", "nodes")
    lines = out.splitlines()
    assert code == 0 and re.match(r"^Node +ID +Address +DC$", lines[0]), out
    assert lines[1].split() == [node["Node"], node["ID"].split("-")[0], node["Address"], "dc1"]
    code, out, _ = cli(agent, "catalog", "nodes", "-detailed")
    assert re.match(r"^Node +ID +Address +DC +TaggedAddresses +Meta$", out.splitlines()[0])
    assert node["ID"] in out
    code, out, _ = cli(agent, "catalog", "nodes", "-service=api")
    assert code == 0 and node["Node"] in out
    code, out, err = cli(agent, "catalog", "nodes", "-service=nosuch")
    assert code == 0 and out == ""
    assert "No nodes match the given query - try expanding your search." in err
    code, out, _ = cli(agent, "catalog", "nodes", "-filter", 'Node == "%s"' % node["Node"])
    assert code == 0 and node["Node"] in out
    code, out, _ = cli(agent, "catalog", "services")
    assert code == 0 and out.splitlines() == sorted(out.splitlines()) and "api" in out.splitlines()
    code, out, _ = cli(agent, "catalog", "services", "-tags")
    assert code == 0 and re.search(r"^api +v1,v2$", out, re.M), out
    code, out, _ = cli(agent, "catalog", "services", "-node", node["Node"])
    assert code == 0 and "api" in out.splitlines()
    code, out, err = cli(agent, "catalog", "services", "-node", "no-such-node")
    assert code == 0 and "No services match" in err
    code, _, err = cli(agent, "catalog", "nodes", "extra")
    assert code == 1 and "Too many arguments (expected 0, got 1)" in err
    cli(agent, "services", "deregister", "-id=api")


def checks(agent):
    return requests.get(agent.url + "/v1/agent/checks").json()


def test_maint_toggles_checks(agent):
    assert cli(agent, "services", "register", "-name=mweb")[0] == 0
    code, out, _ = cli(agent, "maint")
    assert code == 0 and out == ""
    code, out, _ = cli(agent, "maint", "-enable", "-reason", "disk swap")
    assert code == 0 and out == "Node maintenance is now enabled\n"
    c = checks(agent)["_node_maintenance"]
    assert c["Status"] == "critical" and c["Notes"] == "disk swap"
    code, out, _ = cli(agent, "maint", "-enable", "-service=mweb")
    assert code == 0 and out == 'Service maintenance is now enabled for "mweb"\n'
    assert checks(agent)["_service_maintenance:mweb"]["Status"] == "critical"
    code, out, _ = cli(agent, "maint")
    assert "Node:\n  Name:   test-node\n  Reason: disk swap\n" in out
    assert "Service:\n  ID:     mweb\n" in out
    code, out, _ = cli(agent, "maint", "-disable", "-service=mweb")
    assert code == 0 and out == 'Service maintenance is now disabled for "mweb"\n'
    code, out, _ = cli(agent, "maint", "-disable")
    assert code == 0 and out == "Node maintenance is now disabled\n"
    c = checks(agent)
    assert "_node_maintenance" not in c and "_service_maintenance:mweb" not in c
    code, _, err = cli(agent, "maint", "-enable", "-disable")
    assert code == 1 and "Only one of -enable or -disable may be provided" in err
    code, _, err = cli(agent, "maint", "-reason=x")
    assert code == 1 and "Reason may only be provided with -enable" in err
    code, _, err = cli(agent, "maint", "-enable", "-service=nosuch")
    assert code == 1 and "Error enabling service maintenance" in err and "404" in err
    cli(agent, "services", "deregister", "-id=mweb")


def lock_proc(agent, *args):
    # dash, unlike bash, forks for the last command of -c: the lock must
    # signal the child's whole process group, or `sleep` outlives it.
    env = dict(env_for(agent), SHELL="/bin/sh")
    return subprocess.Popen([BIN, "lock"] + list(args), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(p, timeout=30):
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out.decode(), err.decode()


def test_lock_mutual_exclusion(agent, tmp_path):
    log = tmp_path / "log"
    go = tmp_path / "go"
    # A holds until the test creates `go`; B must not start before A ends.
    a = lock_proc(agent, "locks/mx",
                  "echo A >> %s; while [ ! -e %s ]; do sleep 0.05; done; echo A-end >> %s"
                  % (log, go, log))
    assert wait_until(lambda: log.exists() and "A" in log.read_text(), timeout=15)
    held = requests.get(agent.url + "/v1/kv/locks/mx/.lock").json()[0]
    assert held["Session"] and held["Flags"] == 3304740253564472344
    b = lock_proc(agent, "locks/mx", "echo B >> %s" % log)
    # B is waiting: it has a session but no lock, and has not run.
    assert wait_until(lambda: len(requests.get(agent.url + "/v1/session/list").json()) >= 2,
                      timeout=15)
    assert log.read_text() == "A\n"
    go.write_text("")
    assert finish(a)[0] == 0
    code, out, err = finish(b)
    assert code == 0, err
    assert log.read_text() == "A\nA-end\nB\n"
    # Released and cleaned up: no key, no sessions left.
    assert requests.get(agent.url + "/v1/kv/locks/mx/.lock").status_code == 404
    assert wait_until(lambda: requests.get(agent.url + "/v1/session/list").json() == [])


def test_lock_lost_kills_child_and_exit_codes(agent, tmp_path):
    a = lock_proc(agent, "-verbose", "locks/lost", "sleep 60")
    assert wait_until(lambda: requests.get(agent.url + "/v1/kv/locks/lost/.lock").status_code == 200
                      and requests.get(agent.url + "/v1/kv/locks/lost/.lock").json()[0].get("Session"),
                      timeout=15)
    sid = requests.get(agent.url + "/v1/kv/locks/lost/.lock").json()[0]["Session"]
    requests.put(agent.url + "/v1/session/destroy/" + sid)
    code, out, err = finish(a)
    assert code == 0 and "Lock lost, killing child" in out, out + err
    code, _, err = finish(lock_proc(agent, "-child-exit-code", "locks/ec", "exit 3"))
    assert code == 2 and "exit status 3" in err
    assert finish(lock_proc(agent, "locks/ec", "exit 3"))[0] == 0
    code, _, err = finish(lock_proc(agent, "locks/ec"))
    assert code == 1 and "Key prefix and child command must be specified" in err
    code, _, err = finish(lock_proc(agent, "-n=0", "locks/ec", "true"))
    assert code == 1 and "Lock holder limit must be positive" in err
    # -timeout gives up while another process holds the lock.
    go = tmp_path / "go"
    a = lock_proc(agent, "locks/to", "while [ ! -e %s ]; do sleep 0.05; done" % go)
    assert wait_until(lambda: requests.get(agent.url + "/v1/kv/locks/to/.lock").status_code == 200
                      and requests.get(agent.url + "/v1/kv/locks/to/.lock").json()[0].get("Session"),
                      timeout=15)
    code, _, err = finish(lock_proc(agent, "-timeout=300ms", "locks/to", "echo never"))
    assert code == 1 and "timeout during lock acquisition" in err
    go.write_text("")
    assert finish(a)[0] == 0


def test_semaphore_two_holders(agent, tmp_path):
    go = tmp_path / "go"
    procs, marks = [], []
    for name in ("s1", "s2"):
        m = tmp_path / name
        marks.append(m)
        procs.append(lock_proc(agent, "-n", "2", "locks/sem",
                               "touch %s; while [ ! -e %s ]; do sleep 0.05; done" % (m, go)))
    # Both hold at once: both children run before either may finish.
    assert wait_until(lambda: all(m.exists() for m in marks), timeout=20)
    doc = requests.get(agent.url + "/v1/kv/locks/sem/.lock?raw").json()
    assert doc["Limit"] == 2 and len(doc["Holders"]) == 2
    # Consul's semaphore flag does not fit an int64: kv get must still show it.
    code, out, err = cli(agent, "kv", "get", "-detailed", "locks/sem/.lock")
    assert code == 0 and "Flags            16210313421097356768\n" in out, err
    code, out, err = cli(agent, "kv", "export", "locks/sem/")
    assert code == 0 and '"flags": 16210313421097356768' in out, err
    go.write_text("")
    for p in procs:
        code, out, err = finish(p)
        assert code == 0, err
    assert requests.get(agent.url + "/v1/kv/locks/sem/?recurse").status_code == 404


def read_line(stream, deadline):
    """One line from a pipe, or None at the deadline."""
    buf = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([stream], [], [], 0.1)
        if r:
            ch = os.read(stream.fileno(), 1)
            if not ch:
                return None
            if ch == b"\n":
                return buf.decode()
            buf += ch
    return None


def test_watch(agent):
    requests.put(agent.url + "/v1/kv/w/k", data=b"one")
    code, out, err = cli(agent, "watch", "-type=key", "-key=w/k")
    assert code == 0, err
    assert json.loads(out)["Value"] == base64.b64encode(b"one").decode()
    assert out.startswith("{\n    \"")
    code, out, _ = cli(agent, "watch", "-type=services")
    assert code == 0 and "consul" in json.loads(out)
    code, _, err = cli(agent, "watch")
    assert code == 1 and "Watch type must be specified" in err
    code, _, err = cli(agent, "watch", "-type=key")
    assert code == 1 and "Must specify a single key to watch" in err

    # With a handler: the first value, then every change, JSON on stdin.
    p = subprocess.Popen([BIN, "watch", "-type=key", "-key=w/k",
                          'cat; echo; echo "index=$CONSUL_INDEX"'],
                         env=env_for(agent), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        first = json.loads(read_line(p.stdout, deadline))
        assert base64.b64decode(first["Value"]) == b"one"
        assert read_line(p.stdout, deadline) == ""
        assert read_line(p.stdout, deadline).startswith("index=")
        requests.put(agent.url + "/v1/kv/w/k", data=b"two")
        second = json.loads(read_line(p.stdout, deadline))
        assert base64.b64decode(second["Value"]) == b"two"
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=10)
    assert p.returncode == 0


def test_lock_interrupts(agent, tmp_path):
    mark = tmp_path / "held"
    a = lock_proc(agent, "-verbose", "locks/int", "touch %s; sleep 60" % mark)
    assert wait_until(lambda: mark.exists(), timeout=15)
    # A waiter interrupted while acquiring gives up with Consul's message.
    b = lock_proc(agent, "locks/int", "echo never")
    assert wait_until(lambda: len(requests.get(agent.url + "/v1/session/list").json()) >= 2,
                      timeout=15)
    b.send_signal(signal.SIGINT)
    code, out, err = finish(b)
    assert code == 1 and "Shutdown triggered or timeout during lock acquisition" in err
    assert "never" not in out
    # The holder, interrupted, stops its child and releases the lock.
    a.send_signal(signal.SIGTERM)
    code, out, err = finish(a)
    assert code == 0, err
    assert requests.get(agent.url + "/v1/kv/locks/int/.lock").status_code == 404
    assert wait_until(lambda: requests.get(agent.url + "/v1/session/list").json() == [])
