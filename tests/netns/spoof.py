#!/usr/bin/env python3
"""Sends UDP datagrams with a forged IPv4 source address through a raw socket (CAP_NET_RAW,
which Docker and containerd give containers by default).

  spoof.py SRC DST PORT COUNT [TEXT]   COUNT datagrams SRC:40000 -> DST:PORT, 20 ms apart
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


def datagram(src, dst, port, payload):
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    udp_len = 8 + len(payload)
    pseudo = s + d + struct.pack("!BBH", 0, socket.IPPROTO_UDP, udp_len)
    udp = struct.pack("!HHHH", 40000, port, udp_len, 0) + payload
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, socket.IPPROTO_UDP, 0, s, d)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + udp


def main():
    src, dst, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    text = (sys.argv[5] if len(sys.argv) > 5 else "spoofed").encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    packet = datagram(src, dst, port, text)
    sent = 0
    for _ in range(count):
        try:
            sock.sendto(packet, (dst, 0))
            sent += 1
        except OSError as e:  # unreachable and the like: the kernel refused it, which is fine
            print("send: %s" % e, file=sys.stderr)
        time.sleep(0.02)
    print("sent %d" % sent)


if __name__ == "__main__":
    main()
