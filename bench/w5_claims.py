#!/usr/bin/env python3
"""Claims per second, jobs per claim and claim time per job over stretches of a W5 log.

Usage: w5_claims.py W5_LOG   (the output of `haul-bench --workloads w5`, e.g. results/w5.log)
The fetch mean of W5 is the mean time of one claim; it moves with the claims' size, so this
prints it beside the jobs per claim, the time per job and the producer's insert calls per
second (nan for logs from before the ins/s column), over the whole steady phase and over
stretches of the held phase: before the hold, the hold, 7–30 s after the COMMIT, the rest.
"""
import re, sys
lines=open(sys.argv[1]).read().split('\n')
def section(name):
    i=[k for k,l in enumerate(lines) if l.startswith(name)][0]
    rows=[]
    for l in lines[i+2:]:
        p=l.split()
        if len(p)<13 or not re.match(r'^\d+\.\d$',p[0]):
            if rows: break
            continue
        ins=float(p[13].replace(',','')) if len(p)>13 and re.match(r'^[\d,]+$',p[13]) else float('nan')
        rows.append((float(p[0]),float(p[1]),float(p[2].replace(',','')),int(p[7].replace(',','')),float(p[8]),ins))
    return rows
def agg(rows,a,b):
    sel=[(r,rows[k-1]) for k,r in enumerate(rows) if k>0 and a<r[0]<=b]
    if not sel:
        return
    span=sum(r[1] for r,_ in sel)
    jobs=sum(r[2]*r[1] for r,_ in sel); f=sum(r[3]-q[3] for r,q in sel); ft=sum((r[3]-q[3])*r[4] for r,q in sel)
    ins=sum(r[5]*r[1] for r,_ in sel)/span
    print(f"  {a:.0f}-{b:.0f} s: {f/span:.0f} claims/s, {jobs/f:.0f} jobs/claim, fetch mean {ft/f:.2f} ms, {1000*ft/jobs:.1f} us/job, producer {ins:.0f} inserts/s")
if __name__ == "__main__":
    s = section('W5 steady'); print("steady"); agg(s, 20, s[-1][0])
    h = section('W5 held'); print("held")
    begin, commit = map(float, re.search(r'open \d+ s, ([\d.]+) s → ([\d.]+) s', '\n'.join(lines)).groups())
    for a, b in ((20, begin - 5), (begin, commit), (commit + 7, commit + 30), (commit + 30, h[-1][0])):
        agg(h, a, b)
