#!/usr/bin/env python3
# scripts/fuzz-corpus-cap.py BIN CORPUS CAP: keeps the named seeds plus at most CAP of the sha1-named
# inputs, chosen greedily by new edges (libFuzzer -merge=1 -use_counters=0 control file), and
# deletes the rest. Keeps tests/fuzz/corpus under 3 MB (each file is a 4 KiB block).
import os, re, subprocess, sys, tempfile
bin_, corpus, cap = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sorted(os.path.join(corpus, f) for f in os.listdir(corpus))
sha = re.compile(r'^[0-9a-f]{40}$')
with tempfile.TemporaryDirectory() as td:
    cf = os.path.join(td, 'cf'); out = os.path.join(td, 'out'); os.mkdir(out)
    subprocess.run(['nice','-n','19',bin_,'-merge=1','-use_counters=0','-merge_control_file='+cf,out,corpus],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = open(cf).read().split('\n')
n = int(lines[0]); paths = lines[2:2+n]
cov = {}
for l in lines[2+n:]:
    p = l.split()
    if p and p[0] == 'COV': cov[int(p[1])] = set(map(int, p[2:]))
covered = set(); named = []; cand = []
for i, p in enumerate(paths):
    (cand if sha.match(os.path.basename(p)) else named).append(i)
for i in named: covered |= cov.get(i, set())
keep = []
while len(keep) < cap:
    best, gain = None, 0
    for i in cand:
        g = len(cov.get(i, set()) - covered)
        if g > gain or (g == gain and g > 0 and os.path.getsize(paths[i]) < os.path.getsize(paths[best])):
            best, gain = i, g
    if best is None: break
    keep.append(best); covered |= cov[best]; cand.remove(best)
total = set().union(*cov.values()) if cov else set()
for i in cand: os.remove(paths[i])
print(f'{os.path.basename(corpus)}: kept {len(keep)} + {len(named)} named, edges {len(covered)}/{len(total)}')
