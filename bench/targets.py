#!/usr/bin/env python3
"""Issue 4's targets from one side-by-side run's results folder (bench/side-by-side.sh).

Usage: targets.py RESULTS            Markdown: Haul's and every peer's medians, then each target
       targets.py RESULTS --w5-rate SHARE   prints SHARE % of Haul's W3 median, rounded to 1,000

Every figure is a median over the run's records (min–max and n beside it); a peer's W3–W4 are its
medians, and "best peer" is the best of those medians. A peer without a results file (a run with
fewer PEERS) is left out of the table and named below it. Records marked smoke or with problems are
refused, not skipped: a wrong count makes the whole run unusable.
"""
import json
import statistics as st
import sys
from pathlib import Path

PEERS = ["graphile-worker", "pg-boss", "procrastinate", "pgqueuer", "apalis", "awa", "dbos"]


def load(path):
    p = Path(path)
    rows = [json.loads(l) for l in p.read_text().splitlines() if l.strip()] if p.exists() else []
    bad = [r for r in rows if r.get("smoke") or r.get("problems")]
    if bad:
        sys.exit(f"{p}: {len(bad)} record(s) are smoke runs or report problems: {bad[0]}")
    return rows


def values(rows, workload, field):
    return [r[field] for r in rows if r.get("workload") == workload and field in r]


def fmt(vals, digits=0):
    if not vals:
        return "n/a"
    f = lambda x: f"{x:,.{digits}f}"
    m = st.median(vals)
    return f"{f(m)} ({f(min(vals))}–{f(max(vals))}, n={len(vals)})" if len(vals) > 1 else f"{f(m)} (n=1)"


def med(vals):
    return st.median(vals) if vals else None


def table(res):
    rows = {"haul": load(res / "haul.jsonl")}
    ran = [p for p in PEERS if (res / f"{p}.jsonl").exists()]
    rows.update({p: load(res / f"{p}.jsonl") for p in ran})
    print("| queue | W1 bulk jobs/s | W2 single jobs/s | W3 work jobs/s | W4 p50 ms | W4 p95 ms | W4 p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for q, rs in rows.items():
        version = rs[0].get("version", "?") if rs else ""
        name = "**Haul**" if q == "haul" else version if version.startswith(q) else f"{q} {version}"
        cells = [fmt(values(rs, w, "jobs_per_s")) for w in ("W1", "W2", "W3")]
        cells += [fmt(values(rs, "W4", f), 2 if q == "haul" else 1) for f in ("p50_ms", "p95_ms", "p99_ms")]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if missing := [p for p in PEERS if p not in ran]:
        print(f"\nNot in this run (best peer is of the others): {', '.join(missing)}")
    return rows


def best(rows, workload, field, pick):
    meds = [(med(values(rs, workload, field)), q) for q, rs in rows.items() if q != "haul"]
    meds = [(m, q) for m, q in meds if m is not None]
    return pick(meds) if meds else (None, None)


def targets(res, rows):
    haul = rows["haul"]
    bare = [r["rows_per_s"] for r in load(res / "bare.jsonl")]
    l0 = [r["rows_per_s"] for r in load(res / "limits.jsonl") if r.get("test") == "L0"]
    print(f"\nBare loop (claim 1,000 + delete, 2 clients, custom plans), alternating with Haul's W3: {fmt(bare)} rows/s")
    print(f"L0 (one-row insert transactions, 1 client): {fmt(l0)} rows/s\n")
    print("| target | Haul | best peer (or limit) | ratio | met |")
    print("|---|---|---|---|---|")
    out = []

    def row(name, h, b, who, goal, higher):
        if h is None or b is None:
            print(f"| {name} | {'n/a' if h is None else f'{h:,.2f}'} | {'n/a' if b is None else f'{b:,.2f}'} | n/a | **not measured** |")
            out.append(False)
            return
        ratio = h / b
        met = ratio >= goal if higher else ratio <= goal
        out.append(met)
        mark = "yes" if met else "**no**"
        print(f"| {name} | {h:,.2f} | {b:,.2f} ({who}) | {ratio:.3f} | {mark} |")

    for w in ("W1", "W2", "W3"):
        b, who = best(rows, w, "jobs_per_s", max)
        row(f"{w} ≥ 1.5 × best peer", med(values(haul, w, "jobs_per_s")), b, who, 1.5, True)
    for f, goal in (("p50_ms", 0.6), ("p99_ms", 0.75)):
        b, who = best(rows, "W4", f, min)
        row(f"W4 {f[:3].upper()} ≤ {goal} × best peer", med(values(haul, "W4", f)), b, who, goal, False)
    row("W3 ≥ 0.9 × the bare loop", med(values(haul, "W3", "jobs_per_s")), med(bare), "bare loop", 0.9, True)
    w6 = values(haul, "W6", "diff_hwm_mib")
    ok6 = bool(w6) and max(w6) < 16
    out.append(ok6)
    print(f"| W6 peak RSS 1M − 1k < 16 MiB | {fmt(w6, 1)} MiB | | | {'yes' if ok6 else '**no**'} |")
    w5 = [r for r in haul if r.get("workload") == "W5"]
    if w5:
        r = w5[-1]
        rec = r["recovery"]
        back = [rec.get(k) for k in ("throughput_s", "pickup_p99_s", "fetch_mean_s", "table_size_s")]
        ok5 = r["steady"]["stable"] and r["held"]["stable"] and all(b is not None and b <= 10 for b in back)
        out.append(ok5)
        print(f"| W5 at {r['rate_per_s']:,.0f} jobs/s: both phases flat, back ≤ 10 s | steady "
              f"{'stable' if r['steady']['stable'] else 'GROWING'}, held "
              f"{'stable' if r['held']['stable'] else 'GROWING'}, back in {back} s | | | "
              f"{'yes' if ok5 else '**no**'} |")
    else:
        out.append(False)
        print("| W5 | not run | | | **not measured** |")
    print(f"\nTargets met: {sum(out)} of {len(out)}")


def main():
    res = Path(sys.argv[1])
    if len(sys.argv) == 4 and sys.argv[2] == "--w5-rate":
        w3 = med(values(load(res / "haul.jsonl"), "W3", "jobs_per_s"))
        print(int(round(w3 * float(sys.argv[3]) / 100 / 1000) * 1000))
        return
    targets(res, table(res))


if __name__ == "__main__":
    main()
