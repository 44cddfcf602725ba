"""Durability under crashes: kill -9 a random server (sometimes all three)
100 times while a client writes; afterwards every write acknowledged with
`true` is present with its value. Writes are create-only (?cas=0) on
unique keys, so a retried write whose first attempt did land shows up as
`false` with our own value, never as a second version."""
import base64
import random
import threading
import time

import pytest
import requests

from cluster import Cluster
from conftest import wait_until

pytestmark = pytest.mark.slow

ROUNDS = 100


def test_acknowledged_writes_survive_kill9(tmp_path):
    c = Cluster(tmp_path, 3, extra=["-raft-snapshot-threshold", "500",
                                    "-raft-trailing-logs", "50",
                                    "-raft-snapshot-interval", "500ms"])
    rng = random.Random(20261127)
    acked = {}
    stop = threading.Event()
    errors = []

    def writer():
        i = 0
        while not stop.is_set() and i < 100000:
            key, val = "dur/%06d" % i, b"value-%d" % i
            live = c.live()
            if not live:
                time.sleep(0.01)
                continue
            s = rng.choice(live)
            try:
                r = requests.put(s.url + "/v1/kv/" + key, data=val, params={"cas": "0"},
                                 timeout=10)
            except requests.RequestException:
                continue  # Outcome unknown: try the same key again.
            if r.status_code == 200 and r.json() is True:
                acked[key] = val
                i += 1
            elif r.status_code == 200:
                # false: the key exists. Ours from an earlier attempt?
                try:
                    g = requests.get(s.url + "/v1/kv/" + key, timeout=10)
                    if g.status_code == 200 and base64.b64decode(g.json()[0]["Value"]) == val:
                        i += 1
                except requests.RequestException:
                    pass
            elif r.status_code != 500:
                errors.append((r.status_code, r.text))
                i += 1

    try:
        c.start()
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        for rnd in range(ROUNDS):
            victims = c.servers if rnd % 10 == 9 else [rng.choice(c.servers)]
            for v in victims:
                v.kill()
            time.sleep(rng.uniform(0, 0.3))
            for v in victims:
                v.start()
            assert c.wait_leader(timeout=30), c.dump()
        stop.set()
        t.join(30)
        assert not errors, errors[:5]
        assert len(acked) > 200, "too few writes got through: %d" % len(acked)
        leader = c.wait_leader()
        keys = leader.get("/v1/kv/dur/", params={"recurse": ""}).json()
        found = {e["Key"]: base64.b64decode(e["Value"]) for e in keys}
        lost = [k for k in acked if found.get(k) != acked[k]]
        assert not lost, "lost %d acknowledged writes, e.g. %s" % (len(lost), lost[:5])
        # Every server ends with the same data.
        for s in c.servers:
            assert wait_until(lambda: len(s.get("/v1/kv/dur/", params={"recurse": "",
                                                                        "stale": ""}).json())
                              == len(keys), timeout=30)
    finally:
        stop.set()
        c.close()
