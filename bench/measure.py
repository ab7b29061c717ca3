#!/usr/bin/env python3
"""measure.py - turn raw tool output into numbers for bench/overlay-bench.sh.

Subcommands (each prints `key=value` lines the shell reads, or one JSON line):
  tcp FILE [MTU HZ BUSY0 ALL0 BUSY1 ALL1 [A0 A1 B0 B1]]
                  iperf3 -J output of a TCP test  -> gbps retrans bytes seconds; with the
                  machine's busy/all ticks before and after -> busy_pct; with the overlay
                  processes' CPU ticks before and after -> cpu_a_s cpu_b_s cpu_s pkts
                  cpu_us_per_pkt
  udp FILE        iperf3 -J output of a UDP test  -> rx_gbps sent_gbps loss_pct jitter_ms
  ping FILE N     `ping -n` output of N echoes    -> p50_ms p99_ms loss_pct replies
  row FILE        lines `num|str<TAB>key<TAB>value` -> one compact JSON object on stdout

A failed tool run prints `error=<reason>` and exits 1, so the harness can record why.
"""
import json
import math
import re
import sys


def fail(reason):
    print("error=" + reason.replace("\n", " ")[:200])
    sys.exit(1)


def load_iperf(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")
    if not text.strip():
        fail("iperf3 printed nothing (timed out or could not start)")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        fail("iperf3 output is not JSON")
    if doc.get("error"):
        fail("iperf3: " + str(doc["error"]))
    return doc.get("end") or {}


def tcp(path, extra):
    end = load_iperf(path)
    recv = end.get("sum_received") or {}
    sent = end.get("sum_sent") or {}
    if "bits_per_second" not in recv:
        fail("iperf3 reported no received sum")
    delivered = int(recv.get("bytes", 0))
    print(f"gbps={recv['bits_per_second'] / 1e9:.6g}")
    print(f"retrans={int(sent.get('retransmits', 0))}")
    print(f"bytes={delivered}")
    print(f"seconds={float(recv.get('seconds', 0)):.6g}")
    if len(extra) < 6:
        return
    mtu, hz, busy0, all0, busy1, all1 = (int(x) for x in extra[:6])
    print(f"busy_pct={100 * (busy1 - busy0) / max(1, all1 - all0):.6g}")
    if len(extra) < 10:
        return
    a0, a1, b0, b1 = (int(x) for x in extra[6:10])
    cpu_a, cpu_b = (a1 - a0) / hz, (b1 - b0) / hz
    # A full-sized data packet carries MTU - 52 bytes of TCP payload (IPv4 20, TCP 20,
    # timestamp option 12), so the delivered bytes over that count the data packets. The
    # CPU of both sides is spent on those packets and on their ACKs.
    packets = delivered / (mtu - 52)
    print(f"cpu_a_s={cpu_a:.6g}")
    print(f"cpu_b_s={cpu_b:.6g}")
    print(f"cpu_s={cpu_a + cpu_b:.6g}")
    print(f"pkts={round(packets)}")
    if packets >= 1:
        print(f"cpu_us_per_pkt={1e6 * (cpu_a + cpu_b) / packets:.6g}")


def udp(path):
    end = load_iperf(path)
    # iperf3 >= 3.12 splits a UDP test into sum_sent and sum_received (the server's view,
    # with the loss); older versions give only end.sum with the loss in it.
    recv = end.get("sum_received") or end.get("sum") or {}
    sent = end.get("sum_sent") or end.get("sum") or {}
    if "lost_percent" not in recv or "bits_per_second" not in recv:
        fail("iperf3 reported no UDP receiver figures")
    print(f"rx_gbps={recv['bits_per_second'] / 1e9:.6g}")
    print(f"sent_gbps={sent.get('bits_per_second', 0) / 1e9:.6g}")
    print(f"loss_pct={recv['lost_percent']:.6g}")
    print(f"jitter_ms={recv.get('jitter_ms', 0):.6g}")
    print(f"packets={int(recv.get('packets', 0))}")


def nearest_rank(sorted_values, pct):
    """The smallest value with at least pct % of the samples at or below it."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def ping(path, count):
    rtts = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.search(r"time=([0-9.]+) ms", line)
            if m:
                rtts.append(float(m.group(1)))
            # A ping stopped by its deadline (-w) sent fewer than `count`: loss is of those sent.
            m = re.search(r"^(\d+) packets transmitted", line)
            if m and 0 < int(m.group(1)) < count:
                count = int(m.group(1))
    if not rtts:
        fail("no echo reply over the overlay")
    rtts.sort()
    print(f"p50_ms={nearest_rank(rtts, 50):.6g}")
    print(f"p99_ms={nearest_rank(rtts, 99):.6g}")
    print(f"loss_pct={100 * max(0, count - len(rtts)) / count:.6g}")
    print(f"replies={len(rtts)}")


def row(path):
    obj = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            kind, key, value = (line.split("\t", 2) + ["", ""])[:3]
            if kind == "str":
                obj[key] = value
            elif kind == "num":
                try:
                    number = float(value)
                except ValueError:
                    number = None  # a reading that failed stays visible as null
                if number is not None and number.is_integer() and "." not in value and "e" not in value:
                    number = int(number)
                obj[key] = number
            else:
                sys.exit(f"measure.py row: {path}:{n}: expected num|str, got {kind!r}")
    print(json.dumps(obj, separators=(",", ":")))


def main(argv):
    if len(argv) >= 2 and argv[0] == "tcp":
        tcp(argv[1], argv[2:])
    elif len(argv) >= 2 and argv[0] == "udp":
        udp(argv[1])
    elif len(argv) >= 3 and argv[0] == "ping":
        ping(argv[1], int(argv[2]))
    elif len(argv) >= 2 and argv[0] == "row":
        row(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
