#!/usr/bin/env python3
"""Small TCP/UDP probes for the policy tests, each bound to an explicit source address.

  netprobe.py serve-tcp ADDR PORT          accept and echo, forever (prints LISTENING)
  netprobe.py serve-udp ADDR PORT OUT      append every datagram to OUT (prints LISTENING)
  netprobe.py connect SRC DST PORT SECS    prints "connected" (exit 0) or "failed: why" (1)
  netprobe.py udp SRC DST PORT TEXT        sends one datagram
  netprobe.py stream SRC DST PORT SECS     echoes 64 B every 50 ms over one connection for
                                           SECS; prints "ok N" (exit 0) or "broken after N
                                           round trips: why" (exit 1)
"""
import socket
import sys
import time


def serve_tcp(addr, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(16)
    print("LISTENING", flush=True)
    import threading

    def echo(c):
        with c:
            while True:
                b = c.recv(4096)
                if not b:
                    return
                c.sendall(b)

    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


def serve_udp(addr, port, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    print("LISTENING", flush=True)
    while True:
        b, src = s.recvfrom(2048)
        with open(out, "a") as f:
            f.write(f"{src[0]} {b.decode(errors='replace')}\n")


def connect(src, dst, port, secs):
    try:
        c = socket.create_connection((dst, int(port)), timeout=float(secs), source_address=(src, 0))
        c.close()
        print("connected")
        return 0
    except OSError as e:
        print(f"failed: {e}")
        return 1


def udp(src, dst, port, text):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.sendto(text.encode(), (dst, int(port)))
    return 0


def stream(src, dst, port, secs):
    n = 0
    try:
        c = socket.create_connection((dst, int(port)), timeout=3, source_address=(src, 0))
        c.settimeout(2)
        end = time.monotonic() + float(secs)
        while time.monotonic() < end:
            c.sendall(b"x" * 64)
            got = b""
            while len(got) < 64:
                b = c.recv(64 - len(got))
                if not b:
                    raise OSError("connection closed")
                got += b
            n += 1
            time.sleep(0.05)
    except OSError as e:
        print(f"broken after {n} round trips: {e}", flush=True)
        return 1
    print(f"ok {n}", flush=True)
    return 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"serve-tcp": serve_tcp, "serve-udp": serve_udp, "connect": connect, "udp": udp,
          "stream": stream}[cmd]
    sys.exit(fn(*args) or 0)
