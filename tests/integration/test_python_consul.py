"""The unchanged Debian python3-consul client against a dev agent."""
import threading
import time

import consul
import pytest


@pytest.fixture(scope="module")
def c(agent):
    host, port = agent.addr.split(":")
    return consul.Consul(host=host, port=int(port))


def test_put_get_delete(c):
    assert c.kv.put("py/key", "value") is True
    index, data = c.kv.get("py/key")
    assert data["Value"] == b"value"
    assert int(index) == data["ModifyIndex"]
    assert c.kv.delete("py/key") is True
    index, data = c.kv.get("py/key")
    assert data is None
    assert int(index) >= 1


def test_cas_and_flags(c):
    assert c.kv.put("py/cas", "1", cas=0) is True
    assert c.kv.put("py/cas", "2", cas=0) is False
    _, data = c.kv.get("py/cas")
    assert c.kv.put("py/cas", "3", cas=data["ModifyIndex"], flags=5) is True
    _, data = c.kv.get("py/cas")
    assert data["Value"] == b"3" and data["Flags"] == 5
    assert c.kv.delete("py/cas", cas=data["ModifyIndex"]) is True


def test_recurse_and_keys(c):
    for k in ("py/tree/a", "py/tree/b/c"):
        c.kv.put(k, k)
    _, items = c.kv.get("py/tree/", recurse=True)
    assert [i["Key"] for i in items] == ["py/tree/a", "py/tree/b/c"]
    _, keys = c.kv.get("py/tree/", keys=True, separator="/")
    assert keys == ["py/tree/a", "py/tree/b/"]
    assert c.kv.delete("py/tree/", recurse=True) is True
    _, items = c.kv.get("py/tree/", recurse=True)
    assert items is None


def test_blocking_get_returns_on_change(c):
    c.kv.put("py/watch", "old")
    index, _ = c.kv.get("py/watch")
    out = {}

    def watch():
        out["r"] = c.kv.get("py/watch", index=index, wait="30s")

    t = threading.Thread(target=watch)
    t.start()
    time.sleep(0.2)
    c.kv.put("py/watch", "new")
    t.join(10)
    assert not t.is_alive()
    new_index, data = out["r"]
    assert int(new_index) > int(index)
    assert data["Value"] == b"new"


def test_blocking_get_on_missing_key(c):
    index, data = c.kv.get("py/later")
    assert data is None
    out = {}
    t = threading.Thread(target=lambda: out.setdefault(
        "r", c.kv.get("py/later", index=index, wait="30s")))
    t.start()
    time.sleep(0.1)
    c.kv.put("py/later", "here")
    t.join(10)
    assert out["r"][1]["Value"] == b"here"


def test_txn_through_python_consul_http(c):
    # Debian's python-consul 0.7.1 predates its Txn class; the same request
    # goes through its HTTP layer, as consul.Txn.put() does in later releases.
    import base64
    import json
    ops = [{"KV": {"Verb": "set", "Key": "py/txn", "Value": base64.b64encode(b"t").decode()}},
           {"KV": {"Verb": "get", "Key": "py/txn"}}]
    result = c.http.put(consul.base.CB.json(), "/v1/txn", data=json.dumps(ops))
    assert result["Errors"] is None
    assert base64.b64decode(result["Results"][1]["KV"]["Value"]) == b"t"


def test_status(c):
    assert c.status.leader() == "127.0.0.1:8300"
    assert c.status.peers() == ["127.0.0.1:8300"]
    assert c.agent.self()["Config"]["Datacenter"] == "dc1"
