"""The namespace harness itself works: hosts reach each other, a partition
cuts them apart, healing restores them. Skipped where namespaces are not
available (not root)."""
import pytest

import netns

pytestmark = pytest.mark.skipif(not netns.available(), reason="needs root and ip netns")


def ping(net, src, dst):
    return net.run(src, ["ping", "-c1", "-W1", net.addr(dst)]).returncode == 0


def test_partition_and_heal():
    with netns.Net(3) as net:
        assert ping(net, 0, 1) and ping(net, 1, 2)
        net.partition([0], [1, 2])
        assert not ping(net, 0, 1)
        assert not ping(net, 2, 0)
        assert ping(net, 1, 2)
        net.heal()
        assert ping(net, 0, 2)
