#!/usr/bin/env python3
"""Sends IPv6 UDP datagrams as raw Ethernet frames (AF_PACKET, ethertype 0x86dd) out of an
interface, around the pod's own disabled IPv6 stack, as a pod with CAP_NET_RAW could.

  ipv6_frames.py IFNAME SRC6 DST6 PORT COUNT [TEXT]   COUNT frames, 20 ms apart, to the
                                                       broadcast MAC (every neighbour sees them)
"""
import socket
import struct
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(src_mac, src, dst, port, payload):
    s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    udp_len = 8 + len(payload)
    pseudo = s + d + struct.pack("!I3xB", udp_len, socket.IPPROTO_UDP)
    udp = struct.pack("!HHHH", 40000, port, udp_len, 0) + payload
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, udp_len, socket.IPPROTO_UDP, 64, s, d)
    return b"\xff" * 6 + src_mac + struct.pack("!H", 0x86DD) + ip6 + udp


def main():
    ifname, src, dst, port, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    text = (sys.argv[6] if len(sys.argv) > 6 else "v6").encode()
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((ifname, 0))
    mac = sock.getsockname()[4]
    for i in range(count):
        sock.send(frame(mac, src, dst, port, text + b" %d" % i))
        time.sleep(0.02)
    print("SENT", count)


if __name__ == "__main__":
    main()
