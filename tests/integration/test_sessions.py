"""Sessions and locks the way Patroni and python-consul use them."""
import time

import consul
import pytest
import requests

from conftest import wait_until


@pytest.fixture(scope="module")
def c(agent):
    host, port = agent.addr.split(":")
    return consul.Consul(host=host, port=int(port))


def test_patroni_session_lifecycle(agent, c):
    # Patroni: lower-case keys, string durations, checks [] drops serfHealth.
    sid = c.session.create(name="patroni", ttl=10, lock_delay=0.001, checks=[],
                           behavior="delete")
    info = c.session.info(sid)[1]
    assert info["TTL"] == "10s" and info["LockDelay"] == 1000000
    assert info["Behavior"] == "delete" and info["NodeChecks"] is None
    assert c.kv.put("service/pg/leader", "node1", acquire=sid) is True
    _, e = c.kv.get("service/pg/leader")
    assert e["Session"] == sid and e["LockIndex"] == 1
    other = c.session.create(ttl=10, lock_delay=0.001, checks=[])
    assert c.kv.put("service/pg/leader", "node2", acquire=other) is False
    assert c.session.renew(sid)["ID"] == sid
    kept = c.session.create(ttl=10, checks=[])
    # Not renewed: invalidated at 2 x TTL, the delete behaviour drops the
    # key; `kept`, renewed every 2 s meanwhile, survives.
    t0 = time.monotonic()

    def gone():
        assert c.session.renew(kept)["ID"] == kept
        return c.kv.get("service/pg/leader")[1] is None

    assert wait_until(gone, timeout=30, interval=2)
    assert time.monotonic() - t0 > 15  # Not before 2 x 10 s.
    time.sleep(2)
    assert c.session.renew(kept)["ID"] == kept  # Past 2 x TTL of its creation.
    c.session.destroy(kept)
    with pytest.raises(consul.NotFound):
        c.session.renew(sid)
    r = requests.put(agent.url + "/v1/session/renew/" + sid)
    assert (r.status_code, r.text) == (404, "Session id '%s' not found" % sid)
    assert c.session.info(sid)[1] is None
    c.session.destroy(other)


def test_lock_delay_and_release(agent, c):
    s1 = c.session.create(lock_delay=2, checks=[])
    assert c.kv.put("locks/a", "x", acquire=s1) is True
    assert c.session.destroy(s1) is True
    _, e = c.kv.get("locks/a")
    assert "Session" not in e and e["LockIndex"] == 1
    s2 = c.session.create(checks=[])
    assert c.kv.put("locks/a", "y", acquire=s2) is False  # In lock delay.
    assert wait_until(lambda: c.kv.put("locks/a", "y", acquire=s2), timeout=5)
    # An explicit release starts no lock delay.
    assert c.kv.put("locks/a", "y", release=s2) is True
    s3 = c.session.create(checks=[])
    assert c.kv.put("locks/a", "z", acquire=s3) is True
    _, e = c.kv.get("locks/a")
    assert e["LockIndex"] == 3 and e["Session"] == s3
    for s in (s2, s3):
        c.session.destroy(s)


def test_session_validation_and_reads(agent, c):
    r = requests.put(agent.url + "/v1/session/create", json={"TTL": "5s"})
    assert r.status_code == 500 and r.text.startswith("Invalid Session TTL")
    r = requests.put(agent.url + "/v1/session/create", json={"Behavior": "nope"})
    assert (r.status_code, r.text) == (500, "Invalid Behavior setting 'nope'")
    r = requests.put(agent.url + "/v1/session/create", json={"Node": "ghost"})
    assert (r.status_code, r.text) == (500, "Missing node registration")
    r = requests.put(agent.url + "/v1/session/create", json={"NodeChecks": ["nope"]})
    assert r.status_code == 500 and "nope" in r.text
    sid = c.session.create()  # Default: serfHealth, 15 s lock delay.
    info = c.session.info(sid)[1]
    assert info["NodeChecks"] == ["serfHealth"] and info["LockDelay"] == 15000000000
    node = requests.get(agent.url + "/v1/agent/self").json()["Config"]["NodeName"]
    assert sid in [s["ID"] for s in c.session.node(node)[1]]
    assert sid in [s["ID"] for s in c.session.list()[1]]
    assert requests.get(agent.url + "/v1/session/info/" + "0" * 8).json() == []
    assert requests.put(agent.url + "/v1/session/destroy/").status_code == 400
    assert c.session.destroy(sid) is True


def test_session_invalidated_by_critical_check(agent, c):
    c.agent.service.register("pg", service_id="pg1", check=consul.Check.ttl("30s"))
    c.agent.check.ttl_pass("service:pg1")
    assert wait_until(lambda: c.health.checks("pg")[1] and
                      c.health.checks("pg")[1][0]["Status"] == "passing")
    r = requests.put(agent.url + "/v1/session/create",
                     json={"NodeChecks": [], "ServiceChecks": [{"ID": "service:pg1"}],
                           "LockDelay": "0s"})
    sid = r.json()["ID"]
    assert c.kv.put("svc/pg/leader", "me", acquire=sid) is True
    c.agent.check.ttl_fail("service:pg1")
    assert wait_until(lambda: c.session.info(sid)[1] is None)
    _, e = c.kv.get("svc/pg/leader")
    assert "Session" not in e
    c.agent.service.deregister("pg1")


def test_blocking_session_list(agent, c):
    index, _ = c.session.list()
    sid = c.session.create(checks=[])
    index2, lst = c.session.list(index=index)
    assert int(index2) > int(index) and sid in [s["ID"] for s in lst]
    c.session.destroy(sid)
