"""`python -m benchmarks [--quick] [--out DIR] [--only SECTION ...] [--allow-missing]`.

Full mode rewrites docs/benchmarks.md and docs/assets/bench/*.png; quick mode (CI) writes
its page, plots and JSON only to a results directory. The exit status is non-zero when any
benchmark crashed (or, unless --allow-missing, when one of our packages lacks a name the
benchmark needs); a bad ratio never fails the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from typing import Any, Dict, List

import asgi_local
from benchmarks import report
from benchmarks._harness import Group, Settings
from benchmarks.streaming import streaming_checks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = ("sync", "local", "memory", "http", "streaming")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _wrk_version() -> str:
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    except OSError:
        return "wrk not found"
    text = (out.stdout or out.stderr).strip()
    return text.split(" Copyright")[0].splitlines()[0] if text else "wrk (unknown version)"


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes (CI)")
    parser.add_argument(
        "--out",
        help="results directory (default: a new temp dir in quick "
        "mode, benchmarks/results/raw in full mode)",
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="do not fail when our packages lack a name (development only)",
    )
    parser.add_argument("--no-docs", action="store_true", help="full mode: keep docs as they are")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    load_before = os.getloadavg()
    quick = args.quick
    settings = Settings(
        quick=quick,
        repeats=3 if quick else 15,
        sample_seconds=0.004 if quick else 0.05,
        allow_missing=args.allow_missing,
    )
    outdir = args.out or (
        tempfile.mkdtemp(prefix="bench-quick-")
        if quick
        else os.path.join(ROOT, "benchmarks", "results", "raw")
    )
    os.makedirs(outdir, exist_ok=True)

    import asgi_sync
    import asgiref.local
    import asgiref.sync

    groups: List[Group] = []
    memory: List[Dict[str, Any]] = []
    http: Dict[str, Any] = {}
    streaming: Dict[str, Any] = {}
    if "sync" in args.only:
        from benchmarks.micro import sync_groups

        groups += sync_groups({"asgiref": asgiref.sync, "ours": asgi_sync}, settings)
    if "local" in args.only:
        from benchmarks.micro import local_groups

        groups += local_groups({"asgiref": asgiref.local, "ours": asgi_local}, settings)
    if "memory" in args.only:
        from benchmarks.memory import memory_results

        memory = memory_results(
            {"asgiref": asgiref.sync, "ours": asgi_sync},
            {"asgiref": asgiref.local, "ours": asgi_local},
            2_000 if quick else 100_000,
        )
    if "http" in args.only:
        from benchmarks.wsgi_http import http_results

        http = http_results(quick, outdir)
    if "streaming" in args.only:
        from benchmarks.streaming import streaming_groups, streaming_results

        groups += streaming_groups(settings)
        streaming = streaming_results(quick)

    elapsed = time.perf_counter() - started
    meta = {
        "date (UTC)": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "mode": f"{'quick' if quick else 'full'} ({settings.repeats} repeats per micro-"
        f"benchmark, ~{settings.sample_seconds * 1e3:g} ms per sample); run took "
        f"{elapsed:.0f} s",
        "machine": f"{os.cpu_count()} CPUs, {_cpu_model()}, {platform.system()} "
        f"{platform.release()}",
        "load average (1 min) at start / end": f"{load_before[0]:.2f} / "
        f"{os.getloadavg()[0]:.2f} (other jobs on the machine add noise; ratios alternate)",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "ours": ", ".join(f"{d} {_version(d)}" for d in ("asgi-local", "asgi-sync", "asgi-wsgi"))
        + f" (Local: {'C accelerator' if asgi_local.SPEEDUPS else 'pure Python'})",
        "compared with": ", ".join(f"{d} {_version(d)}" for d in ("asgiref", "a2wsgi", "anyio")),
        "server / load": f"uvicorn {_version('uvicorn')}, h11 {_version('h11')}, {_wrk_version()}",
    }

    images = report.plots(groups, http, os.path.join(outdir, "plots"))
    page = report.render(meta, groups, memory, http, images, streaming)
    with open(os.path.join(outdir, "benchmarks.md"), "w") as f:
        f.write(page)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(
            {
                "meta": meta,
                "groups": [dataclasses.asdict(g) for g in groups],
                "memory": memory,
                "http": http,
                "streaming": streaming,
            },
            f,
            indent=1,
            default=str,
        )
    if not quick and not args.no_docs:
        docs_assets = os.path.join(ROOT, "docs", "assets", "bench")
        report.plots(groups, http, docs_assets)
        with open(os.path.join(ROOT, "docs", "benchmarks.md"), "w") as f:
            f.write(page)
        print("wrote docs/benchmarks.md and docs/assets/bench/", flush=True)
    print(f"results in {outdir} ({elapsed:.0f} s)", flush=True)

    failures = []
    for g in groups:
        for r in g.rows:
            if r.error and not (r.missing and args.allow_missing):
                failures.append(f"{g.title} / {r.impl}: {r.error.strip().splitlines()[-1]}")
    for m in memory:
        if "error" in m and not (m.get("missing") and args.allow_missing):
            failures.append(f"memory {m['what']} / {m['impl']}: {m['error'].strip()}")
    for what, err in http.get("errors", {}).items():
        failures.append(f"http {what}: {str(err).strip().splitlines()[-1]}")
    for what, err in streaming.get("errors", {}).items():
        failures.append(f"streaming {what}: {str(err).strip().splitlines()[-1]}")
    if failures:
        print(f"\n{len(failures)} benchmark(s) failed:", file=sys.stderr)
        for line in failures:
            print("  " + line, file=sys.stderr)
        return 1
    print(
        "\n".join(
            ["", "Targets:"]
            + [
                f"  {'PASS' if ok else 'MISS' if ok is False else 'N/A '}  {what}: {value}"
                for what, value, ok in report.micro_checks({g.key: g for g in groups})
                + report.memory_checks(memory)
                + report.http_targets(http)
                + streaming_checks({g.key: g for g in groups}, streaming)
            ]
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
