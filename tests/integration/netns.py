"""Private test networks in Linux network namespaces (root only).

A Net is a bridge in the host namespace plus one namespace per host, each
joined to the bridge by a veth pair and addressed 10.<k>.0.<i+1>/24 where
k is a per-run subnet number. Only our own namespaces and this private
subnet are ever touched. Partitions drop traffic between chosen hosts with
nftables rules inside their namespaces; heal removes them.

Usage:
    with Net(3) as net:
        p = net.popen(0, [BIN, "agent", ...])
        net.partition([0], [1, 2])
        net.heal()
"""
import os
import subprocess
import uuid


def available():
    """True if we can make namespaces here (root, iproute2, nftables)."""
    if os.geteuid() != 0:
        return False
    try:
        name = "cnprobe" + uuid.uuid4().hex[:6]
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        subprocess.run(["ip", "netns", "del", name], check=True, capture_output=True)
        subprocess.run(["nft", "--version"], check=True, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError):
        return False


def sh(*args, ns=None, check=True):
    cmd = list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


class Net:
    def __init__(self, n):
        self.n = n
        tag = uuid.uuid4().hex[:5]
        self.tag = tag
        self.bridge = "cnbr" + tag
        self.ns = ["cn%s%d" % (tag, i) for i in range(n)]
        # A /24 in 10.0.0.0/8 chosen from the tag: private, ours alone.
        self.subnet = "10.%d.%d" % (200 + int(tag[:2], 16) % 50, int(tag[2:4], 16))
        self.procs = []

    def addr(self, i):
        return "%s.%d" % (self.subnet, i + 1)

    def __enter__(self):
        try:
            sh("ip", "link", "add", self.bridge, "type", "bridge")
            # The host side gets .254 so tests can talk HTTP to every host.
            sh("ip", "addr", "add", self.subnet + ".254/24", "dev", self.bridge)
            sh("ip", "link", "set", self.bridge, "up")
            for i, ns in enumerate(self.ns):
                host_if, ns_if = "cnh%s%d" % (self.tag, i), "cnn%s%d" % (self.tag, i)
                sh("ip", "netns", "add", ns)
                sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
                sh("ip", "link", "set", ns_if, "netns", ns)
                sh("ip", "link", "set", host_if, "master", self.bridge)
                sh("ip", "link", "set", host_if, "up")
                sh("ip", "addr", "add", self.addr(i) + "/24", "dev", ns_if, ns=ns)
                sh("ip", "link", "set", ns_if, "up", ns=ns)
                sh("ip", "link", "set", "lo", "up", ns=ns)
                sh("nft", "add", "table", "inet", "cnpart", ns=ns)
                sh("nft", "add", "chain", "inet", "cnpart", "in",
                   "{ type filter hook input priority 0; policy accept; }", ns=ns)
                sh("nft", "add", "chain", "inet", "cnpart", "out",
                   "{ type filter hook output priority 0; policy accept; }", ns=ns)
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def popen(self, i, args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.STDOUT)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[i]] + list(args), **kw)
        self.procs.append(p)
        return p

    def run(self, i, args, **kw):
        return subprocess.run(["ip", "netns", "exec", self.ns[i]] + list(args),
                              capture_output=True, text=True, **kw)

    def partition(self, side_a, side_b):
        """Drops every packet between hosts of side_a and hosts of side_b."""
        for a in side_a:
            for b in side_b:
                for x, y in ((a, b), (b, a)):
                    sh("nft", "add", "rule", "inet", "cnpart", "in", "ip", "saddr",
                       self.addr(y), "drop", ns=self.ns[x])
                    sh("nft", "add", "rule", "inet", "cnpart", "out", "ip", "daddr",
                       self.addr(y), "drop", ns=self.ns[x])

    def heal(self):
        for ns in self.ns:
            sh("nft", "flush", "chain", "inet", "cnpart", "in", ns=ns)
            sh("nft", "flush", "chain", "inet", "cnpart", "out", ns=ns)

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        for ns in self.ns:
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", self.bridge, check=False)
        return False
