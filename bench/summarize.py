#!/usr/bin/env python3
"""summarize.py - the table of a bench/overlay-bench.sh results file.

  summarize.py FILE [--run ID]   one table per run in FILE (or only run ID)
  summarize.py --self-check      canned rows in bench/testdata against known answers

Per mode: median [min-max] over the run's rounds of every metric. Per round: the ratio of
keymesh (and of each NAME@PATH mode) to the other modes, then median [min-max] of those
ratios. Ratios are never formed between different runs. Rows with an "error" field are left
out and listed. Rows written by the harness this one replaced (keys tcpN_*, *_ovl_cpu_*,
rss_peak_kb_*, Gbit per overlay CPU-second) are read too, so older result files print the
same way.
"""
import difflib
import json
import os
import re
import statistics
import subprocess
import sys

# key, label; the order of the table
METRICS = [
    ("tcp1_gbps", "TCP 1 stream, Gbit/s"),
    ("tcp4_gbps", "TCP 4 streams, Gbit/s"),
    ("tcp1_retrans", "TCP 1 stream retransmits"),
    ("udp_rx_gbps", "UDP received, Gbit/s"),
    ("udp_loss_pct", "UDP loss, %"),
    ("ping_p50_ms", "ping p50 idle, ms"),
    ("ping_p99_ms", "ping p99 idle, ms"),
    ("ping_load_p50_ms", "ping p50 under TCP 1 stream, ms"),
    ("ping_load_p99_ms", "ping p99 under TCP 1 stream, ms"),
    ("tcp1_cpu_s", "overlay CPU s, TCP 1 stream (a+b)"),
    ("tcp1_cpu_us_per_pkt", "overlay CPU us per packet, TCP 1"),
    ("tcp1_cpu_s_per_gbit", "overlay CPU s per Gbit, TCP 1"),
    ("tcp1_busy_pct", "machine busy %, TCP 1 stream"),
    ("rss_mib_a", "peak RSS side a, MiB"),
    ("rss_mib_b", "peak RSS side b, MiB"),
]
# key, column head of the ratio table
RATIOS = [
    ("tcp1_gbps", "TCP 1 stream"),
    ("tcp4_gbps", "TCP 4 streams"),
    ("udp_rx_gbps", "UDP received"),
    ("tcp1_cpu_us_per_pkt", "CPU per packet"),
    ("tcp1_cpu_s_per_gbit", "CPU per Gbit"),
    ("ping_p50_ms", "ping p50 idle"),
    ("ping_p99_ms", "ping p99 idle"),
    ("ping_load_p99_ms", "ping p99 load"),
]
# keys of the earlier harness -> ours
ALIASES = {
    "tcpN_gbps": "tcp4_gbps",
    "tcp1_ovl_cpu_s": "tcp1_cpu_s",
    "tcp1_sys_busy_pct": "tcp1_busy_pct",
    "rss_peak_kb_a": "rss_kb_a",
    "rss_peak_kb_b": "rss_kb_b",
}


def normalize(row):
    for old, new in ALIASES.items():
        if old in row and new not in row:
            row[new] = row[old]
    # The earlier harness stored Gbit carried per overlay CPU-second; per packet of MTU - 52
    # payload bytes that is the same figure inverted.
    per_cpu_s = row.get("tcp1_gbit_per_ovl_cpu_s")
    if isinstance(per_cpu_s, (int, float)) and per_cpu_s > 0 and "tcp1_cpu_us_per_pkt" not in row:
        m = re.search(r"\bmtu=(\d+)", str(row.get("config", "")))
        mtu = int(m.group(1)) if m else 1420
        row["tcp1_cpu_us_per_pkt"] = 1e6 * 8 * (mtu - 52) / (per_cpu_s * 1e9)
        row.setdefault("mtu", mtu)
    # CPU-seconds of both overlay processes per Gbit carried: the per-packet figure scaled
    # by the packets in a Gbit of MTU - 52 payload bytes each.
    us = row.get("tcp1_cpu_us_per_pkt")
    if isinstance(us, (int, float)) and us > 0 and "tcp1_cpu_s_per_gbit" not in row:
        row["tcp1_cpu_s_per_gbit"] = us * 1e-6 * 1e9 / (8 * (row.get("mtu") or 1420) - 8 * 52)
    for side in ("a", "b"):
        kb = row.get(f"rss_kb_{side}")
        if isinstance(kb, (int, float)) and kb > 0:
            row[f"rss_mib_{side}"] = kb / 1024
    return row


def load(path):
    runs, skipped = {}, 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                skipped += 1
                continue
            if not isinstance(row, dict) or "mode" not in row or "round" not in row:
                skipped += 1
                continue
            runs.setdefault(row.get("run_id", "?"), []).append(normalize(row))
    return runs, skipped


def fmt(v):
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def cell(values):
    if not values:
        return "-"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}-{fmt(max(values))}]"


def number(row, key):
    v = row.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def ratio_pairs(modes):
    """(numerator, denominator) pairs: keymesh modes over the others, NAME@PATH over NAME."""
    def family(m):
        return m.split("@", 1)[0]
    pairs = []
    for n in modes:
        if family(n) == "keymesh":
            for d in modes:
                if d == n or (family(d) == "keymesh" and not (d == "keymesh" and "@" in n)):
                    continue
                pairs.append((n, d))
        elif "@" in n and family(n) in modes:
            pairs.append((n, family(n)))
    return pairs


def table(lines):
    widths = [max(len(r[c]) for r in lines) for c in range(len(lines[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in lines)


def summarize_run(run_id, rows):
    ok = [r for r in rows if "error" not in r]
    bad = [r for r in rows if "error" in r]
    modes = []
    for r in rows:
        if r["mode"] not in modes:
            modes.append(r["mode"])
    rounds = sorted({r["round"] for r in rows})
    out = [f"run {run_id}: {len(rounds)} round(s), modes {', '.join(modes)}"]
    first = rows[0]
    if first.get("host"):
        out.append(f"host: {first['host']}")
    settings = [f"tun MTU {first['mtu']}"] if "mtu" in first else []
    offered = next((r["udp_offered"] for r in ok if "udp_offered" in r), None)
    if offered:
        settings.append(f"UDP offered {offered}")
    if settings:
        out.append(", ".join(settings))
    if first.get("versions"):  # rows of the earlier harness name every version in one field
        out.append(f"versions: {first['versions']}")
    for m in modes:
        version = next((r.get("version") for r in rows if r["mode"] == m and r.get("version")), "")
        if version:
            out.append(f"  {m}: {version}")
    out.append("")

    by_mode = {m: [r for r in ok if r["mode"] == m] for m in modes}
    head = ["median [min-max]"] + [f"{m} (n={len(by_mode[m])})" for m in modes]
    lines = [head]
    for key, label in METRICS:
        cells = [cell([v for v in (number(r, key) for r in by_mode[m]) if v is not None]) for m in modes]
        if any(c != "-" for c in cells):
            lines.append([label] + cells)
    out.append(table(lines))

    pairs = ratio_pairs(modes)
    if pairs:
        out.append("")
        out.append("per-round ratios, median [min-max] (CPU and ping: below 1 = cheaper, faster)")
        lines = [["ratio"] + [h for _, h in RATIOS]]
        for n, d in pairs:
            cells = []
            for key, _ in RATIOS:
                values = []
                for rnd in rounds:
                    num = [number(r, key) for r in by_mode[n] if r["round"] == rnd]
                    den = [number(r, key) for r in by_mode[d] if r["round"] == rnd]
                    if num and den and num[0] is not None and den[0]:
                        values.append(num[0] / den[0])
                cells.append(cell(values))
            lines.append([f"{n} / {d}"] + cells)
        out.append(table(lines))
    if bad:
        out.append("")
        out.append(f"{len(bad)} row(s) left out:")
        for r in bad:
            out.append(f"  round {r['round']} {r['mode']}: {r['error']}")
    return "\n".join(out)


def summarize(path, only_run=None):
    runs, skipped = load(path)
    if only_run is not None:
        runs = {k: v for k, v in runs.items() if k == only_run}
    if not runs:
        sys.exit(f"summarize.py: no rows{' of run ' + only_run if only_run else ''} in {path}")
    text = "\n\n".join(summarize_run(k, v) for k, v in runs.items())
    if skipped:
        text += f"\n\n{skipped} line(s) of the file were not result rows"
    return text


def self_check():
    """The canned run has three rounds with made-up numbers chosen so that each check has
    one right answer: a median of an odd and an even count, a failed row left out, and
    ratios taken per round (the ratio of the medians would differ)."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")
    problems = []

    def expect(what, got, want):
        if got != want:
            problems.append(f"{what}: got {got!r}, want {want!r}")

    runs, skipped = load(os.path.join(here, "canned.jsonl"))
    expect("runs in canned.jsonl", sorted(runs), ["canned-old", "canned-run"])
    expect("lines that are not rows", skipped, 1)
    text = summarize(os.path.join(here, "canned.jsonl"), "canned-run")
    rows = {line.split("  ")[0]: line.split() for line in text.splitlines()}
    tcp1 = rows.get("TCP 1 stream, Gbit/s", [])
    # raw's round 2 failed and is left out: two values, 10 and 14, median = their mean
    expect("raw TCP 1 cell (even count)", tcp1[4:6], ["12.0", "[10.0-14.0]"])
    # keymesh over the rounds: 2, 3, 1 -> median 2
    expect("keymesh TCP 1 cell (odd count)", tcp1[8:10], ["2.00", "[1.00-3.00]"])
    # per round 2/1, 3/0.5, 1/0.125 = 2, 6, 8 -> 6; the ratio of the medians would be 4
    expect("keymesh / wireguard-go, TCP 1", next((r[3:5] for r in rows.values() if r[:3] == ["keymesh", "/", "wireguard-go"]), None),
           ["6.00", "[2.00-8.00]"])
    # keymesh 5 us per packet against wireguard-go's 20, 10, 40
    expect("keymesh / wireguard-go, CPU per packet",
           next((r[9:11] for r in rows.values() if r[:3] == ["keymesh", "/", "wireguard-go"]), None),
           ["0.250", "[0.125-0.500]"])
    # raw has no overlay process, so no CPU ratio against it
    expect("keymesh / raw, CPU per packet",
           next((r[9] for r in rows.values() if r[:3] == ["keymesh", "/", "raw"]), None), "-")
    expect("failed row listed", "  round 2 raw: namespaces could not be made" in text, True)
    with open(os.path.join(here, "canned.expected"), encoding="utf-8") as f:
        want = f.read().rstrip("\n")
    if text != want:
        diff = difflib.unified_diff(want.splitlines(), text.splitlines(), "canned.expected", "now", lineterm="")
        problems.append("the table differs from testdata/canned.expected:\n    " + "\n    ".join(diff))
    old = summarize(os.path.join(here, "canned.jsonl"), "canned-old")
    old_rows = {line.split("  ")[0]: line.split() for line in old.splitlines()}
    expect("earlier harness's tcpN_gbps", old_rows.get("TCP 4 streams, Gbit/s", [])[-1:], ["1.50"])
    # 1.0944 Gbit per CPU-second = 1e5 packets of 1368 payload bytes: 10 us each
    expect("earlier harness's Gbit per CPU-second", old_rows.get("overlay CPU us per packet, TCP 1", [])[-1:], ["10.0"])
    expect("earlier harness's rss_peak_kb_a", old_rows.get("peak RSS side a, MiB", [])[-1:], ["2.00"])

    measure = [sys.executable, os.path.join(os.path.dirname(here), "measure.py")]
    def run(*args):
        p = subprocess.run(measure + list(args), capture_output=True, text=True, timeout=10)
        return p.returncode, p.stdout.split()
    expect("measure tcp", run("tcp", os.path.join(here, "iperf-tcp.json")),
           (0, ["gbps=1.5", "retrans=7", "bytes=1875000000", "seconds=10"]))
    # 1.875e9 bytes in 1368-byte segments (MTU 1420) = 1370614 packets; 8 + 6 s of CPU
    expect("measure tcp with CPU", run("tcp", os.path.join(here, "iperf-tcp.json"), "1420", "100",
                                       "0", "0", "150", "200", "0", "800", "100", "700")[1][4:],
           ["busy_pct=75", "cpu_a_s=8", "cpu_b_s=6", "cpu_s=14", "pkts=1370614", "cpu_us_per_pkt=10.2144"])
    expect("measure udp", run("udp", os.path.join(here, "iperf-udp.json")),
           (0, ["rx_gbps=0.8", "sent_gbps=1", "loss_pct=20", "jitter_ms=0.05", "packets=1000"]))
    # 10 replies of 0.1 .. 1.0 ms out of 12 sent: p50 = 5th value, p99 = 10th
    expect("measure ping", run("ping", os.path.join(here, "ping.txt"), "12"),
           (0, ["p50_ms=0.5", "p99_ms=1", "loss_pct=16.6667", "replies=10"]))
    expect("measure on an iperf3 error", run("tcp", os.path.join(here, "iperf-error.json"))[0], 1)

    if problems:
        print("self-check FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("self-check ok: summarizer and readers agree with the canned answers")
    return 0


def main(argv):
    if argv == ["--self-check"]:
        sys.exit(self_check())
    if len(argv) == 1 or (len(argv) == 3 and argv[1] == "--run"):
        try:
            print(summarize(argv[0], argv[2] if len(argv) == 3 else None))
        except OSError as e:
            sys.exit(f"summarize.py: {argv[0]}: {e.strerror}")
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
