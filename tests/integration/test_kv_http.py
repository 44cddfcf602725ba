"""KV, txn, status and agent endpoints over raw HTTP (consul-compat.md 2-5)."""
import base64
import json
import socket
import threading
import time

import requests

from conftest import wait_until


def put(agent, key, data=b"", **params):
    return requests.put(agent.url + "/v1/kv/" + key, data=data, params=params)


def get(agent, key, **params):
    return requests.get(agent.url + "/v1/kv/" + key, params=params)


def test_put_get_roundtrip(agent):
    r = put(agent, "app/config", b"hello\x00world")
    assert r.status_code == 200
    assert r.json() is True
    assert r.headers["Content-Type"] == "application/json"
    r = get(agent, "app/config")
    assert r.status_code == 200
    [e] = r.json()
    assert list(e.keys()) == ["LockIndex", "Key", "Flags", "Value", "CreateIndex", "ModifyIndex"]
    assert e["Key"] == "app/config"
    assert base64.b64decode(e["Value"]) == b"hello\x00world"
    assert e["Flags"] == 0 and e["LockIndex"] == 0
    assert int(r.headers["X-Consul-Index"]) == e["ModifyIndex"]
    assert r.headers["X-Consul-KnownLeader"] == "true"
    assert r.headers["X-Consul-LastContact"] == "0"
    assert r.headers["X-Consul-Default-ACL-Policy"] == "allow"
    r = get(agent, "app/config", raw="")
    assert r.content == b"hello\x00world"
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_dev_mode_pretty_and_empty_value(agent):
    put(agent, "empty", b"")
    r = get(agent, "empty")
    assert r.json()[0]["Value"] is None
    assert r.text.startswith("[\n    {\n        \"LockIndex\": 0,")
    assert r.text.endswith("]\n")


def test_missing_key_404_keeps_index(agent):
    r = get(agent, "does/not/exist")
    assert r.status_code == 404
    assert r.content == b""
    assert int(r.headers["X-Consul-Index"]) >= 1


def test_flags_cas_and_delete(agent):
    assert put(agent, "f", b"x", flags="42").json() is True
    e = get(agent, "f").json()[0]
    assert e["Flags"] == 42
    # A write without ?flags resets them to 0.
    put(agent, "f", b"y")
    e = get(agent, "f").json()[0]
    assert e["Flags"] == 0
    idx = e["ModifyIndex"]
    assert put(agent, "f", b"z", cas=str(idx + 100)).json() is False
    assert put(agent, "f", b"z", cas=str(idx)).json() is True
    assert put(agent, "f", b"w", cas="0").json() is False        # exists
    assert put(agent, "f-new", b"w", cas="0").json() is True     # absent
    e = get(agent, "f").json()[0]
    assert e["CreateIndex"] < e["ModifyIndex"]
    assert requests.delete(agent.url + "/v1/kv/f", params={"cas": "0"}).json() is False
    assert requests.delete(agent.url + "/v1/kv/f", params={"cas": "1"}).json() is False
    assert requests.delete(agent.url + "/v1/kv/f",
                           params={"cas": str(e["ModifyIndex"])}).json() is True
    assert get(agent, "f").status_code == 404
    assert requests.delete(agent.url + "/v1/kv/never-there").json() is True


def test_recurse_keys_separator(agent):
    for k in ["web/a", "web/b", "web/sub/c", "web/sub/d", "webx"]:
        put(agent, k, k.encode())
    r = get(agent, "web/", recurse="")
    assert [e["Key"] for e in r.json()] == ["web/a", "web/b", "web/sub/c", "web/sub/d"]
    # ?recurse=false still recurses: presence-only flag.
    assert len(get(agent, "web/", recurse="false").json()) == 4
    r = get(agent, "web/", keys="", separator="/")
    assert r.json() == ["web/a", "web/b", "web/sub/"]
    r = get(agent, "web", keys="")
    assert r.json() == ["web/a", "web/b", "web/sub/c", "web/sub/d", "webx"]
    assert get(agent, "nothing/", recurse="").status_code == 404
    assert get(agent, "nothing/", keys="").status_code == 404
    r = requests.delete(agent.url + "/v1/kv/web/sub", params={"recurse": ""})
    assert r.json() is True
    assert get(agent, "web/", keys="").json() == ["web/a", "web/b"]


def test_percent_encoded_and_odd_keys(agent):
    r = requests.put(agent.url + "/v1/kv/a%2Fb%20c", data=b"1")
    assert r.json() is True
    assert get(agent, "a/b c", raw="").content == b"1"
    r = requests.put(agent.url + "/v1/kv/%E2%9C%93", data=b"check")
    assert requests.get(agent.url + "/v1/kv/%E2%9C%93").json()[0]["Key"] == "\u2713"
    # Trailing slash makes a different key ("folders").
    put(agent, "folder/", b"")
    put(agent, "folder", b"f")
    assert get(agent, "folder/").json()[0]["Key"] == "folder/"


def test_bad_requests(agent):
    assert get(agent, "").status_code == 400
    assert get(agent, "").text == "Missing key name"
    r = put(agent, "x", b"1", cas="1", acquire="abc")
    assert r.status_code == 400 and r.text.startswith("Conflicting flags: ")
    r = requests.delete(agent.url + "/v1/kv/x", params={"recurse": "", "cas": "1"})
    assert r.status_code == 400
    assert put(agent, "x", b"1", flags="-1").status_code == 400
    assert get(agent, "x", index="abc").text == "Invalid index"
    assert get(agent, "x", index="1", wait="10parsecs").text == "Invalid wait time"
    r = get(agent, "x", stale="", consistent="")
    assert r.status_code == 400 and "conflicting semantics" in r.text
    r = requests.post(agent.url + "/v1/kv/x", data=b"1")
    assert r.status_code == 405
    assert r.headers["Allow"] == "OPTIONS,GET,HEAD,PUT,DELETE"
    r = requests.get(agent.url + "/v1/no/such/endpoint")
    assert r.status_code == 404
    assert "Invalid URL path" in r.text


def test_value_size_limit(agent):
    ok = put(agent, "big", b"v" * (512 * 1024))
    assert ok.status_code == 200
    r = put(agent, "big", b"v" * (512 * 1024 + 1))
    assert r.status_code == 413
    assert "too large" in r.text
    assert len(get(agent, "big", raw="").content) == 512 * 1024


def test_curl_style_expect_continue(agent):
    # curl sends Expect: 100-continue for bodies over 1 KiB.
    body = b"x" * 4096
    s = socket.create_connection(("127.0.0.1", agent.http_port))
    s.sendall(b"PUT /v1/kv/expect HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n"
              b"Expect: 100-continue\r\n\r\n")
    s.settimeout(5)
    interim = s.recv(100)
    assert interim.startswith(b"HTTP/1.1 100 Continue")
    s.sendall(body)
    resp = b""
    while b"true" not in resp:
        resp += s.recv(4096)
    s.close()
    assert get(agent, "expect", raw="").content == body


def test_blocking_query_wakes_on_write(agent):
    put(agent, "blk", b"1")
    r = get(agent, "blk")
    idx = int(r.headers["X-Consul-Index"])
    result = {}

    def waiter():
        t0 = time.monotonic()
        rr = get(agent, "blk", index=str(idx), wait="30s")
        result["elapsed"] = time.monotonic() - t0
        result["resp"] = rr

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.2)  # Let it park; correctness does not depend on this.
    assert t.is_alive()
    put(agent, "other-key", b"x")   # An unrelated key must not wake it...
    time.sleep(0.1)
    assert t.is_alive()
    put(agent, "blk", b"2")         # ...this one must.
    t.join(10)
    assert not t.is_alive()
    rr = result["resp"]
    assert rr.status_code == 200
    assert int(rr.headers["X-Consul-Index"]) > idx
    assert base64.b64decode(rr.json()[0]["Value"]) == b"2"
    assert result["elapsed"] < 10


def test_blocking_query_times_out_with_same_index(agent):
    put(agent, "quiet", b"1")
    idx = int(get(agent, "quiet").headers["X-Consul-Index"])
    r = get(agent, "quiet", index=str(idx), wait="200ms")
    assert r.status_code == 200
    assert int(r.headers["X-Consul-Index"]) == idx


def test_blocking_prefix_and_missing_key(agent):
    r = get(agent, "pfx/", recurse="")
    assert r.status_code == 404
    idx = int(r.headers["X-Consul-Index"])
    out = {}
    t = threading.Thread(target=lambda: out.setdefault(
        "r", get(agent, "pfx/", recurse="", index=str(idx), wait="30s")))
    t.start()
    time.sleep(0.1)
    put(agent, "pfx/new", b"n")
    t.join(10)
    assert out["r"].status_code == 200
    assert out["r"].json()[0]["Key"] == "pfx/new"
    # Deleting under a prefix raises its index (tombstones).
    idx2 = int(out["r"].headers["X-Consul-Index"])
    requests.delete(agent.url + "/v1/kv/pfx/new")
    r = get(agent, "pfx/", recurse="", index=str(idx2), wait="5s")
    assert r.status_code == 404
    assert int(r.headers["X-Consul-Index"]) > idx2


def test_blocking_client_disconnect_is_harmless(agent):
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", agent.http_port))
        s.sendall(b"GET /v1/kv/blk?index=999999999&wait=60s HTTP/1.1\r\nHost: x\r\n\r\n")
        s.close()
    put(agent, "blk", b"3")
    assert get(agent, "blk", raw="").content == b"3"


def test_txn(agent):
    b64 = lambda s: base64.b64encode(s).decode()
    ops = [{"KV": {"Verb": "set", "Key": "t/a", "Value": b64(b"A")}},
           {"KV": {"Verb": "set", "Key": "t/b", "Value": b64(b"B"), "Flags": 7}},
           {"KV": {"Verb": "get", "Key": "t/a"}}]
    r = requests.put(agent.url + "/v1/txn", data=json.dumps(ops))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["Errors"] is None
    assert [x["KV"]["Key"] for x in body["Results"]] == ["t/a", "t/b", "t/a"]
    assert body["Results"][0]["KV"]["Value"] is None       # set: no value echoed
    assert body["Results"][2]["KV"]["Value"] == b64(b"A")  # get: value
    idx = body["Results"][1]["KV"]["ModifyIndex"]
    # All-or-nothing: a failing cas rolls back the set before it.
    ops = [{"KV": {"Verb": "set", "Key": "t/c", "Value": b64(b"C")}},
           {"KV": {"Verb": "cas", "Key": "t/b", "Value": b64(b"X"), "Index": idx + 1000}}]
    r = requests.put(agent.url + "/v1/txn", data=json.dumps(ops))
    assert r.status_code == 409
    body = r.json()
    assert body["Results"] is None
    assert body["Errors"][0]["OpIndex"] == 1
    assert get(agent, "t/c").status_code == 404
    # Read-only transactions carry query meta.
    r = requests.put(agent.url + "/v1/txn",
                     data=json.dumps([{"KV": {"Verb": "get-tree", "Key": "t/"}}]))
    assert r.status_code == 200
    assert "X-Consul-Index" in r.headers
    assert len(r.json()["Results"]) == 2
    # Lower-case field names are accepted.
    r = requests.put(agent.url + "/v1/txn",
                     data=json.dumps([{"kv": {"verb": "delete", "key": "t/a"}}]))
    assert r.status_code == 200
    assert get(agent, "t/a").status_code == 404


def test_txn_bad_input(agent):
    r = requests.put(agent.url + "/v1/txn", data=b"{not json")
    assert r.status_code == 400 and r.text.startswith("Failed to parse body")
    ops = [{"KV": {"Verb": "get", "Key": "k%d" % i}} for i in range(129)]
    r = requests.put(agent.url + "/v1/txn", data=json.dumps(ops))
    assert r.status_code == 413
    assert "too many operations (129 > 128)" in r.text
    r = requests.put(agent.url + "/v1/txn",
                     data=json.dumps([{"KV": {"Verb": "frobnicate", "Key": "x"}}]))
    assert r.status_code == 400
    r = requests.put(agent.url + "/v1/txn",
                     data=json.dumps([{"KV": {"Verb": "set", "Key": "x", "Value": "!!"}}]))
    assert r.status_code == 400
    r = requests.put(agent.url + "/v1/txn", data=b"[" * 100 + b"]" * 100)
    assert r.status_code == 400


def test_status_and_self(agent):
    r = requests.get(agent.url + "/v1/status/leader")
    assert r.json() == "127.0.0.1:8300"
    assert requests.get(agent.url + "/v1/status/peers").json() == ["127.0.0.1:8300"]
    r = requests.get(agent.url + "/v1/agent/self")
    cfg = r.json()["Config"]
    assert cfg["Datacenter"] == "dc1"
    assert cfg["NodeName"] == "test-node"
    assert r.json()["Member"]["Status"] == 1


def test_pipelined_requests_answered_in_order(agent):
    put(agent, "p1", b"one")
    put(agent, "p2", b"two")
    s = socket.create_connection(("127.0.0.1", agent.http_port))
    s.sendall(b"GET /v1/kv/p1?raw HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /v1/kv/p2?raw HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(5)
    data = b""
    while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"two"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.index(b"one") < data.index(b"two")


def test_malformed_http_gets_400(agent):
    s = socket.create_connection(("127.0.0.1", agent.http_port))
    s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
    s.settimeout(5)
    data = s.recv(4096)
    s.close()
    assert data.startswith(b"HTTP/1.1 400")
    # The agent is still fine.
    assert requests.get(agent.url + "/v1/status/leader").ok
