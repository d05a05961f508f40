"""Markdown tables of the benchmarks: medians side by side and ratios against the native core.

Usage::

    python benches/report.py                    # run `pytest benches/`, then report
    python benches/report.py --runs 3           # run it 3 times, keep each case's best median
    python benches/report.py a.json b.json      # report earlier --benchmark-json files
    python benches/report.py --save out.json    # also keep the (merged) JSON
    python benches/report.py -- -k medium       # run with extra pytest arguments

On a shared, noisy machine, interference only ever makes a run slower: with several runs,
each benchmark's lowest median (over the runs) is reported.

Each benchmark group is one case; its competitors (``extra_info["competitor"]``) become
columns, and every competitor other than ``native`` gets a ``X/native`` ratio column (above 1
means the native core is faster). Benchmarks that record ``extra_info["values"]`` (how many
AttributeValues one call converts: top-level attributes plus map entries and list elements,
a set counting as one) also get a per-value table for the medium item.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
BASE = "native"
# The Schema's whole job done with generic calls (benches/bench_marshal.py).
WHOLE = "native generic, whole item"
ORDER = [
    "native",
    "pure",
    "boto3",
    "pynamodb",
    "native generic",
    WHOLE,
    "pure generic",
    "f-string+regex",
]
SECTIONS = {
    # first word of a group: (title, unit name, seconds per unit)
    "marshal": ("Generic marshalling of one item", "µs", 1e-6),
    "schema": ("Whole medium item through a Schema, beside generic marshalling", "µs", 1e-6),
    "keys": ("Keys and index encodings", "ns", 1e-9),
    "model": ("The model path (model layer over the core)", "µs", 1e-6),
}


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result set: for each benchmark, the run whose median per call is lowest."""
    best: dict[str, dict[str, Any]] = {}
    for data in runs:
        for bench in data["benchmarks"]:
            kept = best.get(bench["fullname"])
            if kept is None or median(bench) < median(kept):
                best[bench["fullname"]] = bench
    return dict(runs[0], benchmarks=list(best.values()), runs=len(runs))


def run_benchmarks(extra: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [sys.executable, "-m", "pytest", str(BENCH_DIR), "-q", f"--benchmark-json={out}"]
        print("$", " ".join(cmd + extra), file=sys.stderr)
        subprocess.run(cmd + extra, check=True, stdout=sys.stderr)
        return json.loads(out.read_text())


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def median(bench: dict[str, Any]) -> float:
    """Median seconds per call (a timed run may make several calls: ``extra_info["calls"]``)."""
    return bench["stats"]["median"] / bench.get("extra_info", {}).get("calls", 1)


def competitor_of(bench: dict[str, Any]) -> str:
    return bench.get("extra_info", {}).get("competitor") or bench["name"]


def collect(data: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{group: {competitor: benchmark}}`` in the order the groups ran."""
    groups: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        groups[bench["group"] or bench["name"]][competitor_of(bench)] = bench
    return groups


def ordered(names: set[str]) -> list[str]:
    known = [n for n in ORDER if n in names]
    return known + sorted(names - set(known))


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def median_table(groups: dict[str, dict[str, dict[str, Any]]], unit: str, scale: float) -> str:
    names = ordered({c for members in groups.values() for c in members})
    others = [n for n in names if n != BASE]
    header = ["case"] + [f"{n} ({unit})" for n in names] + [f"{n}/{BASE}" for n in others]
    rows = []
    for group, members in groups.items():
        medians = {c: median(b) for c, b in members.items()}
        row = [group] + [fmt(medians[n] / scale) if n in medians else "" for n in names]
        base = medians.get(BASE)
        for n in others:
            ok = base is not None and n in medians
            row.append(f"{medians[n] / base:.1f}×" if ok else "")
        rows.append(row)
    return table(header, rows)


def values_of(bench: dict[str, Any]) -> int | None:
    return bench.get("extra_info", {}).get("values")


def per_value(groups: dict, group: str, competitor: str) -> float | None:
    """Median nanoseconds per converted AttributeValue, where the benchmark records them."""
    bench = groups.get(group, {}).get(competitor)
    values = bench and values_of(bench)
    return median(bench) / values * 1e9 if values else None


def per_value_table(groups: dict[str, dict[str, dict[str, Any]]]) -> str | None:
    chosen = {
        g: m
        for g, m in groups.items()
        if "medium" in g and any(values_of(b) for b in m.values())
    }
    if not chosen:
        return None
    names = ordered({c for members in chosen.values() for c in members})
    rows = []
    for group, members in chosen.items():
        row = [group]
        for n in names:
            ns = per_value(groups, group, n)
            row.append("" if ns is None else f"{fmt(ns)} ({values_of(members[n])})")
        rows.append(row)
    return table(["case"] + [f"{n} ns/value (values)" for n in names], rows)


def ratio(groups: dict, group: str, competitor: str) -> float | None:
    members = groups.get(group, {})
    if competitor not in members or BASE not in members:
        return None
    return median(members[competitor]) / median(members[BASE])


def summary(groups: dict) -> list[str]:
    lines = []
    for direction, rival in (("to-av", "TypeSerializer"), ("from-av", "TypeDeserializer")):
        group = f"marshal {direction} medium"
        boto = ratio(groups, group, "boto3")
        pure = ratio(groups, group, "pure")
        if boto is not None and pure is not None:
            lines.append(
                f"- medium item {direction}: native is {boto:.1f}× faster than boto3 {rival} "
                f"(target ≥10×) and {pure:.1f}× faster than the pure core (target ≥5×)"
            )
    for group, generic in (
        ("schema to_item medium", "native generic"),
        ("schema from_item medium", "native generic"),
        ("schema to_item medium, plain kinds", "native generic"),
        ("schema from_item medium, plain kinds", "native generic"),
    ):
        schema_ns = per_value(groups, group, BASE)
        generic_ns = per_value(groups, group, generic)
        if schema_ns is not None and generic_ns is not None:
            verdict = "cheaper" if schema_ns < generic_ns else "NOT cheaper"
            lines.append(
                f"- {group}: native Schema {fmt(schema_ns)} ns/value vs generic "
                f"{fmt(generic_ns)} ns/value ({verdict} per value)"
            )
    for group in groups:
        whole = ratio(groups, group, WHOLE)
        if group.startswith("schema") and whole is not None:
            verdict = "faster" if whole > 1 else "NOT faster"
            lines.append(
                f"- {group}: the same job with generic calls takes {whole:.1f}× the native "
                f"Schema's time (Schema {verdict} per attribute of the same item)"
            )
    return lines


def report(data: dict[str, Any]) -> str:
    groups = collect(data)
    machine = data.get("machine_info", {})
    out = [
        f"Python {machine.get('python_version', '?')} on {machine.get('machine', '?')}, "
        f"{machine.get('cpu', {}).get('brand_raw', 'unknown CPU')}; median time per call"
        + (f", best of {data['runs']} runs" if data.get("runs", 1) > 1 else "")
        + "; ratios above 1× mean the native core is faster.",
    ]
    by_section: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for group, members in groups.items():
        by_section[group.split()[0]][group] = members
    for section, section_groups in by_section.items():
        title, unit, scale = SECTIONS.get(section, (section, "µs", 1e-6))
        out += ["", f"### {title}", "", median_table(section_groups, unit, scale)]
    values = per_value_table(groups)
    if values:
        out += [
            "",
            "### Per AttributeValue, medium item",
            "",
            "Median divided by the AttributeValues one call converts (in parentheses): "
            "20 top-level attributes + 5 map entries + 10 list elements = 35 per item; "
            "Schema.to_item also writes 6 key attributes (41); a page holds 100 items. "
            "\"native generic, whole item\" does the Schema's whole job with generic calls "
            "(the same stored item out, or the same values out of it).",
            "",
            values,
        ]
    lines = summary(groups)
    if lines:
        out += ["", "### Key ratios", ""] + lines
    return "\n".join(out)


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="--benchmark-json files to report")
    parser.add_argument("--runs", type=int, default=1, help="runs of the suite (without files)")
    parser.add_argument("--save", type=Path, help="write the merged JSON here")
    args = parser.parse_args(argv)
    if args.files:
        runs = [json.loads(path.read_text()) for path in args.files]
    else:
        runs = [run_benchmarks(extra) for _ in range(max(1, args.runs))]
    data = merge(runs)
    if args.save:
        args.save.write_text(json.dumps(data, indent=1))
    print(report(data))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
