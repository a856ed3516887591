#!/usr/bin/env python3
"""The examples table from one or more bench/examples.sh TSV files: median seconds of the
passing runs per example, tool and cold/warm, each run's seconds in brackets, and the
peer/berth ratios (above 1: berth is faster).
Usage: examples-table.py [--cold-bases] TSV...   (examples.sh runs it on its own TSV)"""
import csv, datetime, os, statistics, subprocess, sys

args = sys.argv[1:]
cold_bases = "--cold-bases" in args
files = [a for a in args if a != "--cold-bases"]
rows = []
for f in files:
    rows += list(csv.DictReader(open(f), delimiter="\t"))
order = list(dict.fromkeys(r["example"] for r in rows))

def runs(ex, tool, run):
    return [r for r in rows if (r["example"], r["tool"], r["run"]) == (ex, tool, run)]

def med(ex, tool, run):
    ok = [float(r["seconds"]) for r in runs(ex, tool, run) if r["status"].startswith("ok")]
    return statistics.median(ok) if ok else None

def cell(ex, tool, run):
    rs = runs(ex, tool, run)
    if not rs:
        return "-"
    m = med(ex, tool, run)
    txt = f"{m:.1f} s" if m is not None else "failed"
    if len(rs) > 1:
        txt += " (" + " / ".join(r["seconds"] for r in rs) + ")"
    notes = sorted({r["status"] for r in rs if r["status"] != "ok"})
    if notes:
        txt += " " + ", ".join(notes)
    return txt

def ratio(ex, run):
    p, b = med(ex, "peer", run), med(ex, "berth", run)
    return f"{p / b:.1f}x" if p and b else "-"

here = os.path.dirname(os.path.abspath(__file__))
rev = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                     capture_output=True, text=True).stdout.strip()
print(f"examples end to end, {os.cpu_count()} cores, {datetime.date.today()}, berth {rev}"
      + (", cold runs include debootstrap of the bases (COLD_BASES=1)" if cold_bases else ""))
print()
print("| example | berth cold | berth warm | peer cold | peer warm | peer/berth cold | peer/berth warm |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for ex in order:
    print(f"| {ex} | {cell(ex, 'berth', 'cold')} | {cell(ex, 'berth', 'warm')} "
          f"| {cell(ex, 'peer', 'cold')} | {cell(ex, 'peer', 'warm')} "
          f"| {ratio(ex, 'cold')} | {ratio(ex, 'warm')} |")
print()
loads = [float(r["load1"]) for r in rows]
print(f"Median of the passing runs, each run's seconds in brackets; 1-minute load average "
      f"before the runs {min(loads):.1f}-{max(loads):.1f} (median {statistics.median(loads):.1f}).")
