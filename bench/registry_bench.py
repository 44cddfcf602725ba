#!/usr/bin/env python3
"""bench/registry_bench.py - the service registry at scale on one
`cairn agent -dev` (issue bars in brackets).

usage: registry_bench.py CAIRN KVLOAD [--quick] [--section health|checks|all]
         [--instances N] [--services N] [--check tcp|ttl] [--interval S]
         [--duration S] [--clients N]

health: N instances of "web" (default 1,000), each on its own node with a
  passing service check, registered with PUT /v1/catalog/register. First a
  herd of --herd blocking queries on the list is parked and one check
  change wakes it: time until every reply is read, agent CPU. Then kvload
  GETs /v1/health/service/web?passing from 16 keep-alive clients (the body
  must list the nodes), once without and once with Accept-Encoding: gzip
  (python-requests and Go's net/http send it unasked). Reported: req/s
  [>= 5,000], latency, response size, server CPU per request.
checks: N services (default 10,000) with one check each, registered with
  PUT /v1/agent/service/register. TCP checks point at N distinct loopback
  ports that this script listens on, so every accept is one run of one
  known check: the gaps between a check's consecutive runs, measured on
  the target side over a few intervals, give the scheduling accuracy
  [every gap within 10% of the interval]. TTL checks are never run by the
  agent (they expire); with --check ttl only memory is measured. Reported:
  registration rate, agent VmRSS idle / after registration / while running
  [<= 64 MiB], the agent's own view (checks passing in /v1/agent/checks),
  gap statistics.

Human-readable lines, then `RESULT key=value ...` lines (bench/run.sh
collects them). Every process started here is stopped on exit; no
numbers are asserted.
"""
import argparse
import http.client
import json
import os
import re
import resource
import selectors
import socket
import subprocess
import sys
import threading
import time


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def cpu_s(pid):
    """User + system CPU seconds of pid so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def herd(agent, n, index, gzip, change):
    """n blocking GETs of the health list parked at index (from 127.1.0.x
    sources: 200 connections per address is the agent's limit), then
    change() makes the list change: returns (seconds until every reply
    was read, agent CPU seconds meanwhile, replies, errors)."""
    sel = selectors.DefaultSelector()
    req = ("GET /v1/health/service/web?passing&index=%d&wait=60s HTTP/1.1\r\nHost: x\r\n%s\r\n"
           % (index, "Accept-Encoding: gzip\r\n" if gzip else "")).encode()
    conns = []
    for i in range(n):
        s = socket.socket()
        s.bind(("127.1.0.%d" % (1 + i // 150), 0))
        s.connect((agent.host, agent.port))
        s.sendall(req)
        s.setblocking(False)
        conns.append(s)
        sel.register(s, selectors.EVENT_READ, [b"", None])
    time.sleep(0.5)  # Let every request park.
    c0, t0 = cpu_s(agent.pid), time.monotonic()
    change()
    done = errors = 0
    deadline = t0 + 60
    while done + errors < n and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            st = key.data
            try:
                chunk = key.fileobj.recv(1 << 20)
            except BlockingIOError:
                continue
            st[0] += chunk
            head_end = st[0].find(b"\r\n\r\n")
            if head_end >= 0 and st[1] is None:
                m = re.search(rb"content-length: *(\d+)", st[0][:head_end], re.I)
                st[1] = head_end + 4 + int(m.group(1)) if m else -1
            if not chunk or (st[1] is not None and len(st[0]) >= st[1]):
                if chunk and st[0].startswith(b"HTTP/1.1 200"):
                    done += 1
                else:
                    errors += 1
                sel.unregister(key.fileobj)
    took, cpu = time.monotonic() - t0, cpu_s(agent.pid) - c0
    for s in conns:
        s.close()
    return took, cpu, done, errors


def mib(kb):
    return "n/a" if kb < 0 else "%.1f" % (kb / 1024)


class Agent:
    def __init__(self, binary, log):
        http_port, dns_port, server_port, serf_port = free_ports(4)
        self.host, self.port = "127.0.0.1", http_port
        self.addr = "127.0.0.1:%d" % http_port
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(
            ["nice", binary, "agent", "-dev", "-node", "bench-node",
             "-http-port", str(http_port), "-dns-port", str(dns_port),
             "-server-port", str(server_port), "-serf-lan-port", str(serf_port),
             "-log-level", "warn"], stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid  # nice execs the agent: same pid.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                st, body = self.call("GET", "/v1/status/leader")
                if st == 200 and body.strip() not in (b"", b'""'):
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("agent did not become ready; see " + log)
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def call(self, method, path, body=None):
        st, body, _ = self.call_headers(method, path, body)
        return st, body

    def call_headers(self, method, path, body=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            c.request(method, path, body=body)
            r = c.getresponse()
            return r.status, r.read(), r.headers
        finally:
            c.close()

    def put(self, path, obj):
        """Keep-alive PUT (registration loops)."""
        self.conn.request("PUT", path, body=json.dumps(obj))
        r = self.conn.getresponse()
        return r.status, r.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def health_section(a, tmp):
    n = a.instances
    agent = Agent(a.cairn, os.path.join(tmp, "health-agent.log"))
    try:
        t0 = time.monotonic()
        for i in range(n):
            st, body = agent.put("/v1/catalog/register", {
                "Node": "web-node-%d" % i,
                "Address": "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255),
                "NodeMeta": {"rack": "r%d" % (i % 16)},
                "Service": {"ID": "web-%d" % i, "Service": "web", "Port": 8080,
                            "Tags": ["v1", "primary" if i % 2 else "secondary"]},
                "Check": {"CheckID": "service:web-%d" % i, "Name": "web health",
                          "Status": "passing", "ServiceID": "web-%d" % i,
                          "Output": "HTTP GET http://10.0.0.1:8080/health: 200 OK"},
            })
            if st != 200:
                raise RuntimeError("catalog register %d: %d %s" % (i, st, body[:200]))
        reg_s = time.monotonic() - t0
        st, body = agent.call("GET", "/v1/health/service/web?passing")
        got = len(json.loads(body)) if st == 200 else -1
        print("    registered %d instances in %.1f s; /v1/health/service/web?passing: "
              "%d entries, %d bytes" % (n, reg_s, got, len(body)))
        if got != n:
            print("    WARNING: expected %d entries" % n)
        # Identity first (what the bar was first read as), then gzip: what
        # python-requests and Go's net/http send unasked.
        # A herd of blocking queries (consul-template, Prometheus) woken
        # by one change: each reply is the whole new list.
        flip = [0]

        def change():
            flip[0] += 1
            st, _ = agent.put("/v1/catalog/register", {
                "Node": "web-node-0", "Address": "10.0.0.0",
                "Check": {"CheckID": "service:web-0", "Name": "web health",
                          "ServiceID": "web-0", "Output": "flip %d" % flip[0],
                          "Status": "passing"}})
        for gz in (False, True):
            _, _, hdrs = agent.call_headers("GET", "/v1/health/service/web?passing")
            took, cpu, ok, bad = herd(agent, a.herd, int(hdrs["X-Consul-Index"]), gz, change)
            tag = "herd_gz" if gz else "herd"
            print("    herd of %d blocking queries (%s), one change: all answered in %.3f s, "
                  "agent CPU %.3f s (%.0f us per reply); %d ok, %d failed"
                  % (a.herd, "gzip" if gz else "identity", took, cpu, cpu / max(ok, 1) * 1e6,
                     ok, bad))
            print("RESULT %s_n=%d %s_s=%.3f %s_cpu_s=%.3f %s_ok=%d %s_failed=%d"
                  % (tag, a.herd, tag, took, tag, cpu, tag, ok, tag, bad))
        for enc, flags in (("identity", []), ("gzip", ["-z"])):
            print("    %s responses:" % enc)
            out = subprocess.run(
                ["nice", a.kvload, "-a", agent.addr, "-w", "path",
                 "-u", "/v1/health/service/web?passing", "-b", "web-node-",
                 "-c", str(a.clients), "-t", "1", "-d", str(a.duration), "-W", str(a.warmup),
                 "-S", str(agent.pid), "-T", "30"] + flags,
                capture_output=True, text=True, timeout=a.duration + a.warmup + 120)
            for line in out.stdout.splitlines():
                if not line.startswith("RESULT"):
                    print("      " + line)
            m = re.search(r"^RESULT (.*)$", out.stdout, re.M)
            kv = dict(x.split("=", 1) for x in m.group(1).split()) if m else {}
            tag = "health" if enc == "identity" else "health_gz"
            print("RESULT %s_instances=%d %s_body_bytes=%d %s_rps=%s %s_p50_us=%s "
                  "%s_p99_us=%s %s_errors=%s %s_server_cpu_s=%s %s_client_bound=%s "
                  "%s_clients=%d" % (tag, n, tag, len(body), tag, kv.get("ops_s", "n/a"),
                                     tag, kv.get("p50_us", "n/a"), tag, kv.get("p99_us", "n/a"),
                                     tag, kv.get("errors", "n/a"), tag,
                                     kv.get("server_cpu_s", "n/a"), tag,
                                     kv.get("client_bound", "n/a"), tag, a.clients))
            if out.returncode != 0:
                print("      kvload exited %d: %s" % (out.returncode, out.stderr.strip()[-300:]))
    finally:
        agent.stop()


class Targets:
    """N listening loopback ports; every accept is timestamped per port."""

    def __init__(self, n):
        self.sel = selectors.DefaultSelector()
        self.socks, self.ports, self.hits = [], [], {}
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(64)
            s.setblocking(False)
            port = s.getsockname()[1]
            self.socks.append(s)
            self.ports.append(port)
            self.hits[port] = []
            self.sel.register(s, selectors.EVENT_READ, port)
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            for key, _ in self.sel.select(timeout=0.2):
                now = time.monotonic()
                while True:
                    try:
                        c, _ = key.fileobj.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    self.hits[key.data].append(now)
                    c.close()

    def close(self):
        self.stopping = True
        self.thread.join(timeout=5)
        for s in self.socks:
            s.close()


def agent_check_states(agent):
    st, body = agent.call("GET", "/v1/agent/checks")
    states = {}
    if st == 200:
        for c in json.loads(body).values():
            states[c["Status"]] = states.get(c["Status"], 0) + 1
    return states


def gap_stats(targets, t_from, t_to, interval):
    gaps, ran, never = [], 0, 0
    for port in targets.ports:
        ts = [t for t in targets.hits[port] if t_from <= t <= t_to]
        if ts:
            ran += 1
        else:
            never += 1
        gaps += [b - c for c, b in zip(ts, ts[1:])]
    devs = sorted(abs(g - interval) for g in gaps)
    within = sum(1 for d in devs if d <= 0.1 * interval)

    def pct(q):
        return devs[min(len(devs) - 1, int(q * len(devs)))] if devs else float("nan")
    return {"gaps": len(gaps), "within": within, "never": never, "ran": ran,
            "dev_p50_ms": pct(0.5) * 1e3, "dev_p99_ms": pct(0.99) * 1e3,
            "dev_max_ms": (devs[-1] if devs else float("nan")) * 1e3}


def checks_section(a, tmp):
    n, interval = a.services, a.interval
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 1024
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    targets = Targets(n) if a.check == "tcp" else None
    agent = Agent(a.cairn, os.path.join(tmp, "checks-agent.log"))
    try:
        time.sleep(1)
        idle = rss_kb(agent.pid)
        t0 = time.monotonic()
        for i in range(n):
            if a.check == "tcp":
                chk = {"TCP": "127.0.0.1:%d" % targets.ports[i],
                       "Interval": "%gs" % interval, "Timeout": "1s"}
            else:
                chk = {"TTL": "%gs" % (interval * 3)}
            st, body = agent.put("/v1/agent/service/register", {
                "Name": "svc-%d" % i, "ID": "svc-%d" % i, "Port": 9000 + i % 50000,
                "Tags": ["bench"], "Check": chk})
            if st != 200:
                raise RuntimeError("service register %d: %d %s" % (i, st, body[:200]))
        reg_s = time.monotonic() - t0
        t_reg = time.monotonic()
        registered = rss_kb(agent.pid)
        print("    %d services with one %s check each (interval %gs) registered in %.1f s "
              "(%.0f/s)" % (n, a.check.upper(), interval, reg_s, n / reg_s))
        print("    agent VmRSS: idle %s MiB, after registration %s MiB" % (mib(idle), mib(registered)))
        res = {"checks_n": n, "checks_type": a.check, "checks_interval_s": interval,
               "checks_register_per_s": "%.0f" % (n / reg_s), "checks_rss_idle_kb": idle,
               "checks_rss_registered_kb": registered}
        if a.check == "tcp":
            # Two intervals to settle (first runs are staggered), then the window.
            settle = t_reg + 2 * interval
            end = settle + a.window * interval
            while time.monotonic() < end:
                time.sleep(0.5)
            running = rss_kb(agent.pid)
            states = agent_check_states(agent)
            s = gap_stats(targets, settle, end, interval)
            print("    agent VmRSS while running: %s MiB; agent's checks: %s" % (
                mib(running), ", ".join("%s=%d" % kv for kv in sorted(states.items()))))
            print("    window %.0f s: %d checks ran, %d never; %d gaps, %d (%.2f%%) within 10%% of "
                  "%gs; |gap - interval| p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (
                      end - settle, s["ran"], s["never"], s["gaps"], s["within"],
                      100.0 * s["within"] / max(s["gaps"], 1), interval, s["dev_p50_ms"],
                      s["dev_p99_ms"], s["dev_max_ms"]))
            res.update({"checks_rss_running_kb": running,
                        "checks_passing": states.get("passing", 0),
                        "checks_critical": states.get("critical", 0),
                        "checks_gaps": s["gaps"], "checks_gaps_within_10pct": s["within"],
                        "checks_never_ran": s["never"],
                        "checks_gap_dev_p50_ms": "%.1f" % s["dev_p50_ms"],
                        "checks_gap_dev_p99_ms": "%.1f" % s["dev_p99_ms"],
                        "checks_gap_dev_max_ms": "%.1f" % s["dev_max_ms"]})
        print("RESULT " + " ".join("%s=%s" % kv for kv in res.items()))
    finally:
        agent.stop()
        if targets:
            targets.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cairn")
    p.add_argument("kvload")
    p.add_argument("--section", choices=["health", "checks", "all"], default="all")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--instances", type=int, default=1000)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--herd", type=int, default=500, help="parked blocking queries")
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--services", type=int, default=10000)
    p.add_argument("--check", choices=["tcp", "ttl"], default="tcp")
    p.add_argument("--interval", type=float, default=10)
    p.add_argument("--window", type=float, default=3, help="measured intervals")
    a = p.parse_args()
    if a.quick:
        a.duration, a.warmup, a.window = 3, 1, 2
    tmp = os.environ.get("TMPDIR", "/tmp")
    if a.section in ("health", "all"):
        print("=== registry: GET /v1/health/service/web?passing, %d instances, %d clients"
              % (a.instances, a.clients))
        health_section(a, tmp)
    if a.section in ("checks", "all"):
        print("=== registry: %d services x 1 %s check on one agent" % (a.services, a.check))
        checks_section(a, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
