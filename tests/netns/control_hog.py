#!/usr/bin/env python3
"""control_hog.py - clients that hog keymeshd's control socket (tests/netns/control_socket.sh).

  control_hog.py hold SOCKET N SECONDS
      Opens N connections and sends nothing. Prints "HOLDING N" once all are open, then
      watches them for up to SECONDS and prints one JSON line: how many the daemon closed
      and, for each, how long after its own connect (lifetimes, seconds).
  control_hog.py trickle SOCKET SECONDS
      Opens one connection and sends a 40-byte request one byte a second. Prints one JSON
      line: whether the daemon closed it, after how long, and how many bytes it had sent.

Bounded by SECONDS; touches nothing but SOCKET.
"""
import json
import select
import socket
import struct
import sys
import time


def connect(path):
    """A blocking connect waits while the daemon's accept backlog is full (up to 5 s)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 5, 0))
    s.connect(path)
    s.setblocking(False)
    return s


def closed_by_peer(s):
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def hold(path, n, seconds):
    conns = {}
    for _ in range(n):
        s = connect(path)
        conns[s.fileno()] = (s, time.monotonic())
    print(f"HOLDING {n}", flush=True)
    lifetimes = []
    end = time.monotonic() + seconds
    poller = select.poll()
    for fd in conns:
        poller.register(fd, select.POLLIN)
    while conns and time.monotonic() < end:
        for fd, _ in poller.poll(100):
            s, opened = conns[fd]
            if closed_by_peer(s):
                lifetimes.append(round(time.monotonic() - opened, 3))
                poller.unregister(fd)
                del conns[fd]
                s.close()
    print(json.dumps({"opened": n, "closed": len(lifetimes), "lifetimes": sorted(lifetimes)}),
          flush=True)


def trickle(path, seconds):
    body = b"\x0a" * 36  # never completed, so its content does not matter
    request = struct.pack(">I", len(body)) + body
    s = connect(path)
    opened = time.monotonic()
    print("TRICKLING", flush=True)
    sent = 0
    closed = False
    while sent < len(request) and time.monotonic() - opened < seconds:
        try:
            s.send(request[sent:sent + 1])
            sent += 1
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        wait_until = time.monotonic() + 1
        while time.monotonic() < wait_until and not closed:
            r, _, _ = select.select([s], [], [], max(0.0, wait_until - time.monotonic()))
            closed = bool(r) and closed_by_peer(s)
        if closed:
            break
    print(json.dumps({"closed": closed, "after": round(time.monotonic() - opened, 3),
                      "sent": sent, "size": len(request)}), flush=True)


def main():
    mode = sys.argv[1]
    if mode == "hold":
        hold(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "trickle":
        trickle(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
