"""Markdown page and matplotlib plots from one run's results."""

from __future__ import annotations

__all__ = ("TARGETS", "http_targets", "memory_checks", "micro_checks", "plots", "render")

import os
import statistics
from typing import Any, Dict, List, Optional, Tuple

from benchmarks._harness import Group, Target
from benchmarks.streaming import render_section as _streaming_section
from benchmarks.streaming import streaming_checks as _streaming_checks

TARGETS = (
    Target("s2a_ts", "run_in_executor (one thread)", 1.15, "s2a_ts"),
    Target("s2a_nts", "run_in_executor (default executor)", 1.15, "s2a_nts"),
    Target("s2a_tsc", "one plain thread-sensitive call (ours)", 1.3, "s2a_tsc", "peer"),
    Target("s2a_concurrent", "gather on a one-thread executor", 1.2, "s2a_concurrent"),
    Target("a2s_sync", "asyncio.run", 1.3, "a2s_sync"),
    Target("a2s_sync_spaced", "asyncio.run", 1.3, "a2s_sync_spaced"),
    Target("a2s_nested", "run_coroutine_threadsafe", 1.1, "a2s_nested"),
    Target("local_get_sync", "ContextVar.get", 4, "local_get_sync"),
    Target("local_set_get_sync", "ContextVar set+get", 3, "local_set_get_sync"),
    Target("local_tc_set_get", "threading.local set+get", 3, "local_tc_set_get"),
    # the same two targets when every write stores a new value (no unchanged-write shortcut)
    Target("local_set_new_get_sync", "ContextVar set+get", 3, "local_set_new_get_sync"),
    Target("local_tc_set_new_get", "threading.local set+get", 3, "local_tc_set_new_get"),
)

Check = Tuple[str, str, Optional[bool]]  # (what, measured, passed)


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}\u00d7"


def _paired_ratio(http: Dict[str, Any], scenario: str, top: str, bottom: str) -> float | None:
    """Median over rounds of `top`'s req/s / `bottom`'s req/s, measured in the same round.

    Each round runs every implementation back to back, so pairing within rounds cancels the
    machine getting faster or slower between rounds. Runs saved before rounds were kept fall
    back to the ratio of the medians.
    """
    rounds = http.get("rounds", {}).get(scenario)
    if rounds:
        ratios = [r[top] / r[bottom] for r in rounds if r.get(top) and r.get(bottom)]
        return statistics.median(ratios) if ratios else None
    by_impl = http.get("wrk", {}).get(scenario, {})
    upper, lower = by_impl.get(top, {}).get("rps"), by_impl.get(bottom, {}).get("rps")
    return upper / lower if upper and lower else None


def _mark(passed: bool | None) -> str:
    return {True: "✅ pass", False: "❌ miss", None: "⚠️ n/a"}[passed]


def _us(value: float) -> str:
    us = value * 1e6
    return f"{us:.3f}" if us < 1 else f"{us:.1f}" if us < 1000 else f"{us:,.0f}"


def micro_checks(groups: Dict[str, Group]) -> List[Check]:
    return [
        (
            f"{groups[t.key].title}: {t.text()}" if t.key in groups else t.key,
            _fmt_ratio(t.measured(groups)),
            t.passed(groups),
        )
        for t in TARGETS
    ]


def memory_checks(memory: List[Dict[str, Any]]) -> List[Check]:
    checks: List[Check] = []
    for m in memory:
        if m["impl"] != "ours":
            continue
        what = f"{m['cycles']:,} {m['what']}: flat (RSS < +1 MiB, objects < +1,000)"
        if "error" in m:
            checks.append((what, "error", None))
            continue
        value = f"{m['rss_kib']:+,.0f} KiB, {m['objects']:+,d} objects"
        checks.append((what, value, m["rss_kib"] < 1024 and m["objects"] < 1000))
    return checks


def http_targets(http: Dict[str, Any]) -> List[Check]:
    checks: List[Check] = []
    for other, limit in (("native ASGI", 0.50), ("a2wsgi", 2.5)):
        ratio = _paired_ratio(http, "GET 13 B", "asgi_wsgi", other)
        checks.append(
            (
                f"WSGI GET 13 B req/s: ≥ {limit:g}\u00d7 {other}",
                _fmt_ratio(ratio),
                None if ratio is None else ratio >= limit,
            )
        )
    up = http.get("upload", {}).get("asgi_wsgi")
    mib = http.get("upload_bytes", 0) >> 20
    if up:
        checks.append(
            (
                f"{mib} MiB upload: server RSS growth < 16 MiB",
                f"{up['rss_growth_mib']:.1f} MiB",
                up["rss_growth_mib"] < 16,
            )
        )
        checks.append(
            (
                f"{mib} MiB upload: 0 bytes to disk",
                f"{up['disk_bytes']:.0f} B",
                up["disk_bytes"] == 0,
            )
        )
    else:
        checks.append((f"{mib} MiB upload", "n/a", None))
    st = http.get("streams", {}).get("asgi_wsgi")
    ratio = st["eight_ms"] / st["one_ms"] if st else None
    checks.append(
        (
            "8 concurrent streams: ≤ 1.3\u00d7 one stream",
            _fmt_ratio(ratio),
            None if ratio is None else ratio <= 1.3,
        )
    )
    ka = http.get("keepalive", {}).get("asgi_wsgi")
    checks.append(
        (
            "250 sequential keep-alive requests: 0 non-200",
            "n/a" if not ka else f"{ka['non_200']:.0f}",
            None if not ka else ka["non_200"] == 0,
        )
    )
    return checks


def _target_for(key: str) -> str:
    for t in TARGETS:
        if t.key == key:
            return t.text()
    return ""


def _micro_table(groups: List[Group], by_key: Dict[str, Group]) -> List[str]:
    lines = [
        "| benchmark | floor | floor µs | asgiref µs (min / median) | ours µs (min / median) "
        "| ours \u00d7 floor | asgiref \u00d7 floor | ours \u00d7 asgiref | target | |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for g in groups:
        cells = []
        for kind in ("floor", "asgiref", "ours"):
            row = next((r for r in g.rows if r.kind == kind), None)
            if row is None or not row.ok:
                cells.append("missing" if row is not None and row.missing else "error")
            elif kind == "floor":
                cells.append(_us(row.median))
            else:
                cells.append(f"{_us(row.min)} / {_us(row.median)}")
        target = next((t for t in TARGETS if t.key == g.key), None)
        passed = target.passed(by_key) if target else None
        lines.append(
            f"| {g.title} | {g.floor_label} | {cells[0]} | {cells[1]} | {cells[2]} "
            f"| {_fmt_ratio(g.ratio('ours'))} | {_fmt_ratio(g.ratio('asgiref'))} "
            f"| {_fmt_ratio(g.ratio('ours', 'asgiref'))} | {_target_for(g.key)} "
            f"| {_mark(passed) if target else ''} |"
        )
    return lines


def _others_table(groups: List[Group]) -> List[str]:
    lines = [
        "| benchmark | implementation | µs (min / median) | \u00d7 floor |",
        "|---|---|--:|--:|",
    ]
    for g in groups:
        floor = g.row("floor")
        for r in g.rows:
            if r.kind in ("peer", "other") and r.ok:
                ratio = r.median / floor.median if floor else None
                lines.append(
                    f"| {g.title} | {r.impl} | {_us(r.min)} / {_us(r.median)} "
                    f"| {_fmt_ratio(ratio)} |"
                )
    return lines


def render(
    meta: Dict[str, Any],
    groups: List[Group],
    memory: List[Dict[str, Any]],
    http: Dict[str, Any],
    images: List[str],
    streaming: Dict[str, Any] | None = None,
) -> str:
    by_key = {g.key: g for g in groups}
    checks = micro_checks(by_key) + memory_checks(memory) + http_targets(http)
    if streaming is not None:
        checks += _streaming_checks(by_key, streaming)
    out = [
        "# Benchmarks",
        "",
        "Generated by `hatch run bench:full` (the `benchmarks/` package of the repository); "
        "do not edit by hand. Every figure comes from **one run in one process**, with the "
        "floor (the bare stdlib operation), the real asgiref and ours timed in alternation "
        "repeat after repeat so that drift cancels out. Times are per operation, "
        "min / median over the repeats; ratios are of medians. Lower is better for times, "
        "higher for requests per second.",
        "",
        "## What ran",
        "",
        "| | |",
        "|---|---|",
    ]
    out += [f"| {k} | {v} |" for k, v in meta.items()]
    out += [
        "",
        "## Targets",
        "",
        "The targets of the benchmark issue, measured on `ours` in this run.",
        "",
        "| target | measured | |",
        "|---|--:|---|",
    ]
    out += [f"| {what} | {value} | {_mark(ok)} |" for what, value, ok in checks]
    sections = (("sync", "sync_to_async and async_to_sync"), ("local", "Local"))
    for section, title in sections:
        members = [g for g in groups if g.section == section]
        if not members:
            continue
        out += ["", f"## {title}", ""]
        if f"{section}.png" in images:
            out += [f"![{title}: time relative to the floor](assets/bench/{section}.png)", ""]
        out += _micro_table(members, by_key)
        others = _others_table(members)
        if len(others) > 2:
            intro = (
                "Other libraries doing the same operation "
                "(and our plain call beside the per-request one):"
                if section == "sync"
                else "A second floor for comparison:"
            )
            out += ["", intro, "", *others]
    if memory:
        out += [
            "",
            "## Memory",
            "",
            "Growth after a warm-up, measured in this process after `gc.collect()`: "
            "resident set size and the number of objects the garbage collector tracks. "
            "Flat means a few hundred KiB of allocator noise and no object growth "
            "proportional to the cycle count.",
            "",
            "| what | implementation | cycles | RSS growth | objects growth |",
            "|---|---|--:|--:|--:|",
        ]
        for m in memory:
            if "error" in m:
                out.append(f"| {m['what']} | {m['impl']} | {m['cycles']} | error | error |")
            else:
                out.append(
                    f"| {m['what']} | {m['impl']} | {m['cycles']:,} "
                    f"| {m['rss_kib']:+,.0f} KiB | {m['objects']:+,d} |"
                )
    if http.get("wrk"):
        out += _http_section(http, images)
    out += _streaming_section(groups, streaming or {})
    out += [
        "",
        "## Method",
        "",
        "- Micro-benchmarks: each implementation first calibrates how many operations fill "
        "a sample (this is also its warm-up), then the implementations take turns, the "
        "starting one rotating each repeat. Local accesses are unrolled ten per loop "
        "iteration, and the loop overhead is the same for the floor.",
        "- Async benchmarks run each sample in a fresh `asyncio.run`, timed inside the coroutine.",
        "- HTTP: each server is uvicorn (h11, one worker, access log off) in its own "
        "process on 127.0.0.1; the load comes from `wrk -t1 -c16` in another process. "
        "Client and server share the machine's cores, so compare ratios, not absolutes.",
        "- Upload: the server's RSS is sampled every 5 ms during the upload; bytes to disk "
        "are the larger of the server's `/proc/<pid>/io` `write_bytes` growth and the size "
        "of the regular files it holds open (spooled temporary files included).",
        "- Only Python 3.11 is measured (the `bench` hatch environment).",
        "",
    ]
    if any(r.error and not r.missing for g in groups for r in g.rows) or http.get("errors"):
        out += ["", "## Errors in this run", ""]
        for g in groups:
            for r in g.rows:
                if r.error:
                    out += [f"- {g.title} / {r.impl}: `{r.error.strip().splitlines()[-1]}`"]
        for what, err in http.get("errors", {}).items():
            out += [f"- HTTP {what}: `{str(err).strip().splitlines()[-1]}`"]
    return "\n".join(out) + "\n"


def _http_section(http: Dict[str, Any], images: List[str]) -> List[str]:
    out = ["", "## WSGI adapter under uvicorn", ""]
    if "wsgi.png" in images:
        out += ["![WSGI adapters: requests per second](assets/bench/wsgi.png)", ""]
    out += [
        f"`wrk` for {http['seconds']:g} s per sample, {http['connections']} connections, "
        f"median of {http['repeats']} alternating samples. A round runs every implementation "
        "back to back (the order rotates between rounds); the two ratio columns, and the "
        "targets, are medians of ratios taken within a round, so a machine that speeds up or "
        "slows down between rounds does not skew them.",
        "",
        "| scenario | implementation | req/s (median) | req/s (min) | p50 ms | p99 ms "
        "| \u00d7 native | ours \u00d7 this |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for scenario, by_impl in http["wrk"].items():
        for impl, r in by_impl.items():
            label = "ours (asgi_wsgi)" if impl == "asgi_wsgi" else impl
            bad = f" ({r['non_2xx']:.0f} non-2xx)" if r.get("non_2xx") else ""
            out.append(
                f"| {scenario} | {label} | {r['rps']:,.0f}{bad} | {r['rps_min']:,.0f} "
                f"| {r.get('p50_ms', float('nan')):.2f} | {r.get('p99_ms', float('nan')):.2f} "
                f"| {_fmt_ratio(_paired_ratio(http, scenario, impl, 'native ASGI'))} "
                f"| {_fmt_ratio(_paired_ratio(http, scenario, 'asgi_wsgi', impl))} |"
            )
    mib = http["upload_bytes"] >> 20
    out += [
        "",
        "| implementation | " + f"{mib} MiB upload: RSS growth | bytes to disk "
        "| upload s | TTFB of a stream ms | 1 stream ms | 8 streams ms | 8 / 1 "
        "| keep-alive non-200 of 250 |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    impls = list(
        dict.fromkeys(list(http["upload"]) + list(http["streams"]) + list(http["keepalive"]))
    )
    for impl in impls:
        up, tt = http["upload"].get(impl), http["ttfb"].get(impl)
        st, ka = http["streams"].get(impl), http["keepalive"].get(impl)
        cells = [
            f"{up['rss_growth_mib']:.1f} MiB" if up else "error",
            f"{up['disk_bytes']:,.0f}" if up else "error",
            f"{up['seconds']:.2f}" if up else "error",
            f"{tt['ttfb_ms']:.1f}" if tt else "error",
            f"{st['one_ms']:.0f}" if st else "error",
            f"{st['eight_ms']:.0f}" if st else "error",
            f"{st['eight_ms'] / st['one_ms']:.2f}\u00d7" if st else "error",
            f"{ka['non_200']:.0f}" if ka else "error",
        ]
        out.append(f"| {impl} | " + " | ".join(cells) + " |")
    out += [
        "",
        "The streamed response sends one chunk, sleeps 0.25 s, then sends the last; "
        "a time to first byte near 250 ms means the adapter buffered it. Each of the 8 "
        "streams sends 8 chunks 25 ms apart; 8 / 1 near 1 means they ran concurrently. "
        "Every adapter runs with its defaults: asgi_wsgi's shared worker pool, a2wsgi's "
        "10 threads, and asgiref runs the WSGI app thread-sensitively (one at a time). "
        "The keep-alive run alternates GET /small and a 4 KiB POST on one connection.",
    ]
    for impl, ka in http["keepalive"].items():
        if ka.get("non_200"):
            answers = ", ".join(f"{k}: {v}" for k, v in ka.get("answers", {}).items())
            out += ["", f"{impl}'s keep-alive answers: {answers}."]
    for impl, log in http.get("server_log", {}).items():
        out += [
            "",
            f"{impl}'s server logged {log['exceptions']:,} exception line(s) in this run "
            f"(non-2xx answers above); the last: `{log['last']}`.",
        ]
    return out


def plots(groups: List[Group], http: Dict[str, Any], directory: str) -> List[str]:
    """Write the PNG plots into `directory`; return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    written = []
    for section, title in (("sync", "sync_to_async / async_to_sync"), ("local", "Local")):
        members = [g for g in groups if g.section == section and g.row("floor")]
        if not members:
            continue
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(members) + 1.5))
        ys = range(len(members))
        for offset, kind, color in ((-0.2, "asgiref", "#999999"), (0.2, "ours", "#1f77b4")):
            values = [g.ratio(kind) or float("nan") for g in members]
            ax.barh([y + offset for y in ys], values, height=0.4, label=kind, color=color)
        ax.axvline(1, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yticks(list(ys))
        ax.set_yticklabels([g.title for g in members], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("median time / floor median, log scale (lower is better; 1 = floor)")
        ax.set_title(f"{title}: time relative to the floor")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(directory, f"{section}.png"), dpi=90)
        plt.close(fig)
        written.append(f"{section}.png")
    if http.get("wrk"):
        scenarios = list(http["wrk"])
        impls = list(dict.fromkeys(i for s in scenarios for i in http["wrk"][s]))
        fig, axes = plt.subplots(1, len(scenarios), figsize=(4 * len(scenarios), 3.5))
        if len(scenarios) == 1:
            axes = [axes]
        for ax, scenario in zip(axes, scenarios):
            values = [http["wrk"][scenario].get(i, {}).get("rps", 0) for i in impls]
            ax.bar(range(len(impls)), values, color=["#1f77b4", "#999999", "#bbbbbb", "#2ca02c"])
            ax.set_xticks(range(len(impls)))
            ax.set_xticklabels(impls, rotation=30, fontsize=8)
            ax.set_title(scenario)
            ax.set_ylabel("req/s (higher is better)")
        fig.tight_layout()
        fig.savefig(os.path.join(directory, "wsgi.png"), dpi=90)
        plt.close(fig)
        written.append("wsgi.png")
    return written
