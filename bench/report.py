"""The benchmark's outputs: run.py's markdown report from its JSON document, a PNG plot and
the results section of bench/README.md; and the tables quick.py and bench_cross_entropy.py
print from measure.time_case's rows, which are run.py's rows without the bandwidth."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

import measure
import registry

PEERS = ("torch", "torch.compile", "jax", "numpy")
# fastloss's calls a row may time, each a line of the table: its fused pass writing over its
# input is bench_cross_entropy.py's.
FASTLOSS_VARIANTS = {"fastloss": "", "fastloss_in_place": ", out= the input"}
README_BEGIN = "<!-- results: begin (bench/run.py --update-readme) -->"
README_END = "<!-- results: end -->"
BANDWIDTH_TARGET = 85.0  # % of memory bound for the memory-bound losses, out of cache
CROSS_ENTROPY_TARGET = ("cross_entropy", [8192, 1000], 4.0)  # fused pass, ms


def size_label(size: Any) -> str:
    if isinstance(size, (list, tuple)):
        return "x".join(str(extent) for extent in size)
    return f"2^{size.bit_length() - 1}"


def _ms(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def best_peer(ms: Dict[str, float]) -> Optional[str]:
    peers = [p for p in ms if p not in FASTLOSS_VARIANTS]
    return min(peers, key=lambda p: ms[p]) if peers else None


def peers(rows: List[Dict[str, Any]]) -> List[str]:
    """PEERS, with any other peer the rows time (a case's torch variants: torch_chunked) after torch."""
    extra: List[str] = []
    for row in rows:
        for numbers in row["passes"].values():
            extra += [p for p in numbers["ms"] if p not in FASTLOSS_VARIANTS and p not in PEERS and p not in extra]
    return [PEERS[0], *extra, *PEERS[1:]]


def times_table(rows: List[Dict[str, Any]]) -> List[str]:
    """A line per case, size, pass and fastloss variant: medians, speedups over each peer (n/a
    for one not installed or not timed), % of memory bound where the rows have it, and the
    floor's median with fastloss's time over it where they have a floor."""
    columns = peers(rows)
    passes = [numbers for row in rows for numbers in row["passes"].values()]
    bound = any("percent_of_memory_bound" in numbers for numbers in passes)
    floor = any("floor_ms" in numbers for numbers in passes)
    lines = ["| loss | size | pass | fastloss ms | " + " | ".join(f"{p} ms" for p in columns) + " | "
             + " | ".join(f"vs {p}" for p in columns) + " |" + (" % of memory bound |" if bound else "")
             + (" floor ms | fastloss / floor |" if floor else ""),
             "|---|---|---|" + "---:|" * (len(columns) * 2 + 1 + (1 if bound else 0) + (2 if floor else 0))]
    for row in rows:
        for pass_name, numbers in row["passes"].items():
            ms = numbers["ms"]
            for variant, suffix in FASTLOSS_VARIANTS.items():
                if variant not in ms:
                    continue
                ours = ms[variant]
                speedups = [f"{ms[p] / ours:.2f}x" if p in ms else "n/a" for p in columns]
                line = (f"| {row['case']} | {size_label(row['size'])} | {pass_name}{suffix} | {ours:.3g} | "
                        + " | ".join(_ms(ms.get(p)) for p in columns) + " | " + " | ".join(speedups) + " |")
                if bound:
                    percent = numbers.get("percent_of_memory_bound") if variant == "fastloss" else None
                    line += " n/a |" if percent is None else f" {percent:.0f}% |"
                if floor:
                    floor_ms = numbers.get("floor_ms")
                    line += (" n/a | n/a |" if floor_ms is None else f" {floor_ms:.3g} | {ours / floor_ms:.2f}x |")
                lines.append(line)
    return lines


def out_of_cache_line(rows: List[Dict[str, Any]]) -> str:
    """Which rows ran out of cache, by measure.out_of_cache."""
    past = [f"{row['case']} {size_label(row['size'])}" for row in rows if row["out_of_cache"]]
    return (f"Out of cache (main input of {measure.OUT_OF_CACHE_BYTES >> 20} MiB or more): "
            + (", ".join(past) if past else "none") + ".")


def peer_problem_lines(rows: List[Dict[str, Any]]) -> List[str]:
    """The peers whose results disagreed with the NumPy reference, and why (they were not timed)."""
    problems = [f"{r['case']} {size_label(r['size'])}: {p} not timed ({why})"
                for r in rows for p, why in r["peer_problems"].items()]
    return ["", "### Peers whose results disagreed (not timed)", "", *[f"- {p}" for p in problems]] if problems else []


def compile_time_lines(rows: List[Dict[str, Any]]) -> List[str]:
    """torch.compile's compile time per case (its passes' first calls, not in the times)."""
    compiled = [f"{r['case']} {size_label(r['size'])} {r['torch_compile_seconds']:.1f} s"
                for r in rows if "torch_compile_seconds" in r]
    return ["", "torch.compile's compile time (first call of each pass, excluded from the times): "
            + ", ".join(compiled) + "."] if compiled else []


def times_summary(rows: List[Dict[str, Any]]) -> List[str]:
    """quick.py's and bench_cross_entropy.py's report: the times, which rows ran out of cache,
    torch.compile's compile times and the peers that disagreed."""
    return [*times_table(rows), "", out_of_cache_line(rows), *compile_time_lines(rows), *peer_problem_lines(rows)]


# peak_extra_memory's columns: the first three always, the others where a result has them.
MEMORY_COLUMNS = {"fastloss_in_place": "fastloss, out= the input", "fastloss": "fastloss, new gradient",
                  "torch": "torch autograd"}


def peak_memory_table(peaks: Dict[str, Any]) -> List[str]:
    """measure.peak_extra_memory's results by label: MiB per library (and a case's torch
    variants, and the returned gradients' size where the results have them), or the child's error."""
    columns = dict(MEMORY_COLUMNS)
    for peak in peaks.values():
        if isinstance(peak, dict):
            columns.update({k: f"{k} autograd" for k in peak if k not in columns and k != "gradients"})
    if any(isinstance(peak, dict) and "gradients" in peak for peak in peaks.values()):
        columns["gradients"] = "returned gradients"
    lines = ["| loss | " + " | ".join(columns.values()) + " |", "|---|" + "---:|" * len(columns)]
    for label, peak in peaks.items():
        if isinstance(peak, str):
            lines.append(f"| {label} | " + "n/a | " * (len(columns) - 1) + f"n/a ({peak}) |")
            continue
        cells = ["n/a" if peak.get(k) is None else f"{peak[k]:.1f}" for k in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def speed_target_misses(document: Dict[str, Any]) -> List[str]:
    """The issue's targets: no case slower than the best peer; memory-bound losses at >= 85%
    of memory bound out of cache; fused cross-entropy at 8192x1000 in <= 4 ms."""
    misses = []
    for row in document["results"]:
        case = registry.CASES.get(row["case"])
        for pass_name, numbers in row["passes"].items():
            ms = numbers["ms"]
            peer = best_peer(ms)
            label = f"{row['case']} {size_label(row['size'])} {pass_name}"
            if peer is not None and ms[peer] < ms["fastloss"]:
                misses.append(f"{label}: {ms['fastloss']:.3g} ms, slower than {peer} ({ms[peer]:.3g} ms)")
            # Judged where the pass itself moves an out-of-cache amount: nll_loss's forward reads
            # one cache line per row (72 KiB at 1024x32000), which takes those reads' latency,
            # not a bandwidth.
            if (case is not None and case.memory_bound and row["out_of_cache"]
                    and numbers["bytes"] >= measure.OUT_OF_CACHE_BYTES
                    and numbers["percent_of_memory_bound"] < BANDWIDTH_TARGET):
                misses.append(f"{label}: {numbers['percent_of_memory_bound']:.0f}% of memory bound "
                              f"(target {BANDWIDTH_TARGET:.0f}%)")
            name, shape, limit = CROSS_ENTROPY_TARGET
            if row["case"] == name and row["size"] == shape and pass_name == "with_grad" and ms["fastloss"] > limit:
                misses.append(f"{label}: {ms['fastloss']:.3g} ms (target {limit} ms)")
    return misses


def _bandwidth_drift(document: Dict[str, Any]) -> str:
    """The range the per-case probes saw (the machine's bandwidth drifts during a run)."""
    seen = [numbers["bandwidth"] for row in document["results"] for numbers in row["passes"].values()
            if "bandwidth" in numbers]
    if not seen:
        return ""
    read = [b["read_gbs"] for b in seen]
    copy = [b["copy_gbs"] for b in seen]
    return (f"; during the cases read {min(read):.1f}-{max(read):.1f} GB/s, "
            f"copy {min(copy):.1f}-{max(copy):.1f} GB/s")


def _has_floor(row: Dict[str, Any]) -> bool:
    return any("floor_ms" in numbers for numbers in row["passes"].values())


def markdown(document: Dict[str, Any]) -> str:
    machine, bandwidth = document["machine"], document["bandwidth"]
    # The cases timed against a floor (their own columns) get a table of their own.
    plain = [row for row in document["results"] if not _has_floor(row)]
    floored = [row for row in document["results"] if _has_floor(row)]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    lines = [
        f"**Machine**: {machine['cpu']}, {machine['nproc']} CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in machine['load_average'])} at start; fastloss target "
        f"{machine['simd_target']}, {machine['threads']} threads for every library; {versions}; "
        f"{machine['date_utc']} UTC.",
        "",
        f"**Memory bandwidth** ({machine['threads']} threads, {bandwidth['bytes'] >> 20} MiB arrays): read "
        f"{bandwidth['read_gbs']:.1f} GB/s, copy {bandwidth['copy_gbs']:.1f} GB/s (bytes read + written) at the "
        f"start{_bandwidth_drift(document)}. Each case's % of memory bound uses the probes timed in its own rounds.",
        "",
        f"### Times (median of {document['repeats']}, {document['machine'].get('dtype', 'float32')}, reduction mean; "
        + ("each library alone in a fresh process per case)" if document.get("mode") == "isolated"
           else "libraries interleaved in one process, rounds rotating their order)"),
        *(["", *times_table(plain)] if plain else []),
        *(["", "Against a floor (linear_cross_entropy, size N x V x d: the floor is its matrix products alone "
            "through NumPy's BLAS, timed in fastloss's rounds):", "", *times_table(floored)] if floored else []),
        *compile_time_lines(document["results"]),
    ]
    if document["thread_scaling_ms"]:
        most = max(len(t) for t in document["thread_scaling_ms"].values())
        lines += ["", "### Thread scaling (fastloss fused pass, ms; efficiency = t1 / (p * tp))", "",
                  "| case | " + " | ".join(f"{p} thr" for p in range(1, most + 1)) + f" | efficiency at {most} |",
                  "|---|" + "---:|" * (most + 1)]
        for label, timings in document["thread_scaling_ms"].items():
            ts = [timings[k] for k in sorted(timings, key=int)]
            lines.append(f"| {label} | " + " | ".join(f"{t:.3g}" for t in ts)
                         + f" | {100 * ts[0] / (len(ts) * ts[-1]):.0f}% |")
    if document["peak_extra_memory_mib"]:
        lines += ["", "### Peak extra memory, fused forward+backward out of cache or at the size named (MiB, fresh process)", "",
                  *peak_memory_table(document["peak_extra_memory_mib"])]
    if document["per_target_with_grad_ms"]:
        targets = document["per_target_with_grad_ms"]
        names = sorted({n for t in targets.values() if isinstance(t, dict) for n in t})
        lines += ["", "### Per SIMD target (FASTLOSS_TARGET, fused pass out of cache, ms)", "",
                  "| target | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for target, timings in targets.items():
            if isinstance(timings, dict):
                lines.append(f"| {target} | " + " | ".join(_ms(timings.get(n)) for n in names) + " |")
            else:
                lines.append(f"| {target} | " + " | ".join(["n/a"] * len(names)) + f" |  ({timings})")
    lines += peer_problem_lines(document["results"])
    if document.get("not_benchmarked"):
        lines += ["", "Not benchmarked yet (no registry entry): " + ", ".join(document["not_benchmarked"])]
    misses = speed_target_misses(document)
    lines += ["", "### Speed targets", ""]
    lines += [f"- MISS {m}" for m in misses] if misses else ["- all met"]
    return "\n".join(lines)


def plot(document: Dict[str, Any], path: str) -> bool:
    """Per loss, its largest size: fused-pass speedup over the best peer, and % of memory bound.
    Returns False (no file) when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return False

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    largest: Dict[str, Dict[str, Any]] = {}
    for row in document["results"]:
        largest[row["case"]] = row  # sizes run in increasing order
    names = list(largest)
    fused = [largest[n]["passes"].get("with_grad", largest[n]["passes"]["forward"]) for n in names]
    speedups = []
    for numbers in fused:
        peer = best_peer(numbers["ms"])
        speedups.append(numbers["ms"][peer] / numbers["ms"]["fastloss"] if peer else 0.0)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    top.bar(names, speedups, color="tab:blue")
    top.axhline(1.0, color="black", linewidth=0.8)
    top.set_yscale("log")
    top.set_ylabel("speedup over best peer")
    bottom.bar(names, [n.get("percent_of_memory_bound", 0.0) for n in fused], color="tab:green")  # 0: a floor instead
    bottom.axhline(BANDWIDTH_TARGET, color="black", linewidth=0.8, linestyle="--")
    bottom.set_ylabel("% of memory bound")
    bottom.tick_params(axis="x", labelrotation=60)
    machine = document["machine"]
    figure.suptitle(f"fastloss fused forward+backward (forward for transforms), largest size, "
                    f"{machine['threads']} threads, {machine['simd_target']}")
    figure.tight_layout()
    figure.savefig(path, dpi=72)
    plt.close(figure)
    return True


def update_readme(path: str, markdown_text: str) -> None:
    with open(path) as handle:
        text = handle.read()
    pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path} has no results markers")
    block = f"{README_BEGIN}\n{markdown_text}\n\n![speedup and % of memory bound](results/latest.png)\n{README_END}"
    with open(path, "w") as handle:
        handle.write(pattern.sub(lambda _: block, text))
