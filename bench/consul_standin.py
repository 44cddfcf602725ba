#!/usr/bin/env python3
"""bench/consul_standin.py - a tiny, slow stand-in for the Consul KV API.

Only for bench/selftest.sh: it lets the consul-protocol paths of kvload and
kvprobe be tested without a cairn agent. Never a benchmark subject.

Serves GET /v1/status/leader, PUT/GET /v1/kv/<key> with blocking queries
(?index=&wait=), keep-alive HTTP/1.1, one thread per connection.
Usage: consul_standin.py PORT [READY_DELAY_S]
"""
import base64
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

kv = {}            # key -> (value bytes, create_index, modify_index)
index = [1]
cond = threading.Condition()
start = time.monotonic()
ready_delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0


def parse_wait(s):
    m = re.fullmatch(r"(\d+)(ms|s|m)", s or "")
    if not m:
        return 300.0
    n, unit = int(m.group(1)), m.group(2)
    return n / 1000.0 if unit == "ms" else n * 60.0 if unit == "m" else float(n)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, body, idx=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        if idx is not None:
            self.send_header("X-Consul-Index", str(idx))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query, keep_blank_values=True)
        if url.path == "/v1/status/leader":
            leader = "127.0.0.1:8300" if time.monotonic() - start >= ready_delay else ""
            return self.reply(200, json.dumps(leader))
        if not url.path.startswith("/v1/kv/"):
            return self.reply(404, "")
        key = unquote(url.path[len("/v1/kv/"):])
        want = int(q.get("index", ["0"])[0])
        deadline = time.monotonic() + parse_wait(q.get("wait", [""])[0])
        with cond:
            while want > 0:
                cur = kv[key][2] if key in kv else index[0]
                left = deadline - time.monotonic()
                if cur > want or left <= 0:
                    break
                cond.wait(left)
            ent = kv.get(key)
            idx = ent[2] if ent else index[0]
        if not ent:
            return self.reply(404, "", idx)
        body = [{"LockIndex": 0, "Key": key, "Flags": 0,
                 "Value": base64.b64encode(ent[0]).decode(),
                 "CreateIndex": ent[1], "ModifyIndex": ent[2]}]
        self.reply(200, json.dumps(body), idx)

    def do_PUT(self):
        url = urlsplit(self.path)
        n = int(self.headers.get("Content-Length", "0"))
        value = self.rfile.read(n)
        if not url.path.startswith("/v1/kv/"):
            return self.reply(404, "")
        key = unquote(url.path[len("/v1/kv/"):])
        with cond:
            index[0] += 1
            old = kv.get(key)
            kv[key] = (value, old[1] if old else index[0], index[0])
            cond.notify_all()
        self.reply(200, "true")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
