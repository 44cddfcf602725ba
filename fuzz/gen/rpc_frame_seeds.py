#!/usr/bin/env python3
"""fuzz/gen/rpc_frame_seeds.py - writes the request seeds of
fuzz/corpus/rpc_frame in the current frame layout (run it again when the
request head or the argument encodings change; the other seeds there are
kept by hand).

Input of the target: mode byte, PRNG seed byte, then frames
[u32 len incl. tag][tag][payload]. Request payload: id u64, method u8,
forwarded u8, dc length u8, dc, args (MessagePack; query options
[MinIndex, WaitMs, MaxStaleMs, Consistency, IfIndex])."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus", "rpc_frame")
REQ = 2
KVS_GET, KVS_KEYS, TXN = 4, 6, 7
CATALOG_SERVICE, HEALTH_SERVICE = 19, 23


def mp_str(s, bin_=False):
    b = s.encode() if isinstance(s, str) else s
    if bin_:
        return bytes([0xc4, len(b)]) + b
    return (bytes([0xa0 | len(b)]) if len(b) < 32 else bytes([0xd9, len(b)])) + b


def mp_uint(v):
    if v < 128:
        return bytes([v])
    if v < 1 << 8:
        return bytes([0xcc, v])
    if v < 1 << 16:
        return b"\xcd" + struct.pack(">H", v)
    return b"\xce" + struct.pack(">I", v)


def arr(items):
    return bytes([0x90 | len(items)]) + b"".join(items) if len(items) < 16 else \
        b"\xdc" + struct.pack(">H", len(items)) + b"".join(items)


def opts(min_index=0, wait=0, max_stale=0, consistency=0, if_index=0):
    return arr([mp_uint(min_index), mp_uint(wait), mp_uint(max_stale), mp_uint(consistency),
                mp_uint(if_index)])


def frame(tag, payload):
    return struct.pack(">I", len(payload) + 1) + bytes([tag]) + payload


def req(rid, method, args, dc=b"", forwarded=0):
    return frame(REQ, struct.pack(">Q", rid) + bytes([method, forwarded, len(dc)]) + dc + args)


def cat_args(name, tags, meta, passing, o):
    return arr([mp_str(name), arr([mp_str(t) for t in tags]), arr([mp_str(m) for m in meta]),
                b"\xc3" if passing else b"\xc2", o])


def write(name, mode, seed, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes([mode, seed]) + data)


def main():
    kv = arr([mp_str("foo/bar", True), mp_str("/", True), opts(5, 300000, 0, 2)])
    write("req_kvs_get", 2, 3, req(1, KVS_GET, kv))
    write("req_kvs_keys_small_chunks", 2, 9, req(2, KVS_KEYS, kv))
    write("kvs_args_trailing_bytes", 0, 20, req(13, KVS_GET, kv + b"\x00"))
    write("req_txn", 3, 4, req(3, TXN, arr([mp_str(b"\x01\x02\x03txn-cmd", True), opts()])))
    svc = cat_args("web", ["v1", "primary"], ["rack", "r1"], True, opts(10, 1000, 500, 1, 10))
    write("req_catalog_service", 2, 5, req(4, CATALOG_SERVICE, svc))
    write("req_health_service_bytewise", 1, 6, req(5, HEALTH_SERVICE, svc))
    write("req_health_service_dc", 0, 7, req(6, HEALTH_SERVICE, svc, dc=b"dc2", forwarded=1))
    many = cat_args("n", ["t"] * 80, [], False, opts())
    write("cat_args_too_many_tags", 0, 19, req(12, CATALOG_SERVICE, many))


if __name__ == "__main__":
    main()
