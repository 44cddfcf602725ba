"""`cairn` CLI commands against a dev agent (Consul's flags and texts)."""
import json
import os
import subprocess

import requests

from conftest import BIN, cli


def test_version_and_help():
    p = subprocess.run([BIN, "version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("cairn v")
    for args in (["--help"], ["agent", "-h"], ["kv", "--help"], ["kv", "get", "-h"],
                 ["kv", "put", "-h"], ["kv", "delete", "-h"], ["kv", "export", "-h"],
                 ["kv", "import", "-h"]):
        p = subprocess.run([BIN] + args, capture_output=True, text=True)
        assert p.returncode == 0, args
        assert "Usage: cairn" in p.stdout, args
    p = subprocess.run([BIN, "frobnicate"], capture_output=True, text=True)
    assert p.returncode == 1


def test_kv_put_get_delete(agent, tmp_path):
    code, out, _ = cli(agent, "kv", "put", "cli/a", "hello")
    assert code == 0 and out == "Success! Data written to: cli/a\n"
    code, out, _ = cli(agent, "kv", "get", "cli/a")
    assert code == 0 and out == "hello\n"
    f = tmp_path / "v.bin"
    f.write_bytes(b"from-file")
    assert cli(agent, "kv", "put", "cli/b", "@" + str(f))[0] == 0
    code, out, _ = cli(agent, "kv", "put", "cli/c", "-", stdin=b"from-stdin")
    assert code == 0
    assert cli(agent, "kv", "get", "cli/c")[1] == "from-stdin\n"
    code, out, _ = cli(agent, "kv", "get", "-recurse", "cli/")
    assert out == "cli/a:hello\ncli/b:from-file\ncli/c:from-stdin\n"
    code, out, _ = cli(agent, "kv", "get", "-detailed", "cli/a")
    assert "ModifyIndex" in out and "Value            hello" in out
    code, out, err = cli(agent, "kv", "get", "cli/missing")
    assert code == 1 and "Error! No key exists at: cli/missing" in err
    code, out, _ = cli(agent, "kv", "put", "-flags=9", "cli/f", "x")
    assert requests.get(agent.url + "/v1/kv/cli/f").json()[0]["Flags"] == 9
    code, out, err = cli(agent, "kv", "put", "-cas", "-modify-index=999999", "cli/a", "x")
    assert code == 1 and "CAS failed" in err
    code, out, _ = cli(agent, "kv", "delete", "cli/a")
    assert code == 0 and out == "Success! Deleted key: cli/a\n"
    code, out, _ = cli(agent, "kv", "delete", "-recurse", "cli/")
    assert code == 0 and out == "Success! Deleted keys with prefix: cli/\n"
    assert cli(agent, "kv", "get", "cli/b")[0] == 1


def test_http_addr_sources(agent):
    # -http-addr beats the environment; CAIRN_HTTP_ADDR beats CONSUL_HTTP_ADDR.
    code, _, _ = cli(agent, "kv", "put", "-http-addr=" + agent.addr, "src/a", "1",
                     env_extra={"CONSUL_HTTP_ADDR": "127.0.0.1:1"})
    assert code == 0
    code, out, _ = cli(agent, "kv", "get", "src/a",
                       env_extra={"CONSUL_HTTP_ADDR": "127.0.0.1:1",
                                  "CAIRN_HTTP_ADDR": agent.addr})
    assert code == 0 and out == "1\n"
    code, _, err = cli(agent, "kv", "get", "src/a",
                       env_extra={"CONSUL_HTTP_ADDR": "127.0.0.1:1"})
    assert code == 1 and "Error" in err


def test_export_import_roundtrip(agent):
    cli(agent, "kv", "put", "-flags=3", "exp/one", "1")
    cli(agent, "kv", "put", "exp/two", "2")
    code, out, _ = cli(agent, "kv", "export", "exp/")
    assert code == 0
    data = json.loads(out)
    assert data == [{"key": "exp/one", "flags": 3, "value": "MQ=="},
                    {"key": "exp/two", "flags": 0, "value": "Mg=="}]
    assert out.startswith("[\n\t{\n\t\t\"key\": ")
    code, out, _ = cli(agent, "kv", "import", "-prefix=copy/", "-", stdin=out.encode())
    assert code == 0
    assert out == "Imported: copy/exp/one\nImported: copy/exp/two\n"
    assert cli(agent, "kv", "get", "copy/exp/one")[1] == "1\n"


def test_agent_config_files(tmp_path):
    import signal
    import requests
    from conftest import free_port, wait_until
    port = free_port()
    (tmp_path / "a.json").write_text('{"datacenter": "east", "ports": {"http": %d}}' % port)
    (tmp_path / "b.json").write_text('{"node_name": "from-dir"}')
    p = subprocess.Popen([BIN, "agent", "-dev", "-config-dir", str(tmp_path),
                          "-dns-port", str(free_port())],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = "http://127.0.0.1:%d/v1/agent/self" % port
        assert wait_until(lambda: requests.get(url, timeout=1).ok)
        cfg = requests.get(url).json()["Config"]
        assert cfg["Datacenter"] == "east"
        assert cfg["NodeName"] == "from-dir"
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)
    (tmp_path / "c.json").write_text('{"no_such_key": 1}')
    p = subprocess.run([BIN, "agent", "-dev", "-config-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "no_such_key" in p.stderr
