#!/usr/bin/env python3
"""wgpkt.py - pull WireGuard messages out of a pcap and send raw UDP payloads, for netns tests.

  wgpkt.py extract PCAP OUT [--type N] [--src IP] [--index K]
      Writes the UDP payload of the K-th (default 0) IPv4/UDP packet in PCAP whose payload starts
      with message type N (default 1) and, if given, whose source address is IP. Exit 1 if none.
      Understands classic pcap with Ethernet (1), raw IP (101) and Linux cooked (113) links.
  wgpkt.py send HOST PORT FILE [--count N] [--interval S] [--sport P]
      Sends FILE's bytes as one UDP datagram to HOST:PORT, N times.
  wgpkt.py random HOST PORT --type N --len L [--count N]
      Sends N datagrams of L bytes: message type N, three zero bytes, then random bytes.
Standard library only.
"""
import argparse
import os
import socket
import struct
import sys
import time


def packets(path):
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        magic = struct.unpack("<I", hdr[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            endian = "<"
        elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
            endian = ">"
        else:
            raise SystemExit(f"{path}: not a classic pcap file")
        linktype = struct.unpack(endian + "I", hdr[20:24])[0]
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            incl = struct.unpack(endian + "I", rec[8:12])[0]
            data = f.read(incl)
            yield linktype, data


def udp_payloads(path):
    for linktype, d in packets(path):
        if linktype == 1:  # Ethernet
            if len(d) < 14 or d[12:14] != b"\x08\x00":
                continue
            ip = d[14:]
        elif linktype == 101:  # raw IP
            ip = d
        elif linktype == 113:  # Linux cooked
            if len(d) < 16 or d[14:16] != b"\x08\x00":
                continue
            ip = d[16:]
        else:
            continue
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0x0F) * 4
        src = socket.inet_ntoa(ip[12:16])
        dst = socket.inet_ntoa(ip[16:20])
        udp = ip[ihl:]
        if len(udp) < 8:
            continue
        sport, dport, ulen = struct.unpack("!HHH", udp[:6])
        yield src, sport, dst, dport, udp[8:ulen]


def cmd_extract(a):
    k = 0
    for src, _sport, _dst, _dport, payload in udp_payloads(a.pcap):
        if len(payload) < 4 or payload[0] != a.type or payload[1:4] != b"\0\0\0":
            continue
        if a.src and src != a.src:
            continue
        if k == a.index:
            with open(a.out, "wb") as f:
                f.write(payload)
            print(f"extracted type {a.type} message of {len(payload)} bytes from {src}")
            return 0
        k += 1
    print("no matching message", file=sys.stderr)
    return 1


def sock(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if a.sport:
        s.bind(("0.0.0.0", a.sport))
    return s


def cmd_send(a):
    with open(a.file, "rb") as f:
        payload = f.read()
    s = sock(a)
    for _ in range(a.count):
        s.sendto(payload, (a.host, a.port))
        time.sleep(a.interval)
    print(f"sent {a.count} x {len(payload)} bytes to {a.host}:{a.port}")
    return 0


def cmd_random(a):
    s = sock(a)
    for _ in range(a.count):
        payload = bytes([a.type, 0, 0, 0]) + os.urandom(max(0, a.len - 4))
        s.sendto(payload[: a.len], (a.host, a.port))
        time.sleep(a.interval)
    print(f"sent {a.count} random type-{a.type} datagrams of {a.len} bytes")
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract")
    e.add_argument("pcap")
    e.add_argument("out")
    e.add_argument("--type", type=int, default=1)
    e.add_argument("--src")
    e.add_argument("--index", type=int, default=0)
    for name in ("send", "random"):
        sp = sub.add_parser(name)
        sp.add_argument("host")
        sp.add_argument("port", type=int)
        if name == "send":
            sp.add_argument("file")
        else:
            sp.add_argument("--type", type=int, required=True)
            sp.add_argument("--len", type=int, required=True)
        sp.add_argument("--count", type=int, default=1)
        sp.add_argument("--interval", type=float, default=0.05)
        sp.add_argument("--sport", type=int, default=0)
    a = p.parse_args()
    return {"extract": cmd_extract, "send": cmd_send, "random": cmd_random}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
