"""The benchmark harness works: every registry entry's libraries agree on tiny inputs, the
correctness check catches a wrong result, a missing peer becomes n/a, the report and README
update are built from a run, every script times, checks and measures through the one harness
(measure.py), and "out of cache" is defined once. No timing is asserted."""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastloss
import fastloss.functional as F

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench")
sys.path.insert(0, BENCH)

import bench_broadcast  # noqa: E402
import bench_half  # noqa: E402
import bench_cross_entropy  # noqa: E402
import measure  # noqa: E402
import quick  # noqa: E402
import registry  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402

TINY = {registry.ELEMENTWISE: 1000, registry.CLASSES: (37, 11), registry.SEQUENCES: (20, 3, 6, 4),
        registry.LM_HEAD: (8, 50, 16)}
CASES = registry.available_cases(F)


@pytest.fixture(autouse=True)
def no_torch_compile(monkeypatch):
    """torch.compile takes seconds per case: only test_torch_compile_is_a_peer runs it."""
    monkeypatch.setattr(measure, "torch_compile_calls", lambda case, inputs: None)


def test_isolated_mode_times_each_library_in_its_own_process(monkeypatch):
    monkeypatch.setenv("FASTLOSS_BENCH_TORCH_COMPILE_BACKEND", "aot_eager")
    case = registry.CASES["mse_loss"]
    row = measure.time_case_isolated(case, 1000, repeats=1, threads=1)
    expected = {"fastloss", "numpy"} | {lib for lib in ("torch", "torch.compile", "jax")
                                        if importlib.util.find_spec(lib.split(".")[0]) is not None}
    for numbers in row["passes"].values():
        assert set(numbers["ms"]) == expected
        assert "percent_of_memory_bound" in numbers  # fastloss's child ran the probes
    assert row["peer_problems"] == {}
    if "torch.compile" in expected:
        assert row["torch_compile_seconds"] > 0


class _RecordedProbe:
    """A bandwidth probe's interface with calls that do nothing."""

    def calls(self):
        return {"_read": lambda: None, "_copy": lambda: None}

    def memory_bound(self, case, inputs, pass_name, ms):
        return {"percent_of_memory_bound": 0.0}


@pytest.mark.parametrize("fits_in_cache", [True, False])
def test_bandwidth_probes_share_rounds_only_with_out_of_cache_calls(monkeypatch, fits_in_cache):
    # A probe streams past every cache: beside an in-cache call it would evict that call's
    # inputs before each of its rounds, so there the probes get rounds of their own.
    rounds = []
    timer = measure.interleaved_medians_ms

    def recording(libraries, repeats, warm_up=True):
        rounds.append(set(libraries))
        return timer(libraries, repeats, warm_up)

    monkeypatch.setattr(measure, "interleaved_medians_ms", recording)
    monkeypatch.setattr(measure, "out_of_cache", lambda case, size: not fits_in_cache)
    row = measure.time_case(F, registry.CASES["mse_loss"], 1000, repeats=1, probe=_RecordedProbe(), only="fastloss")
    probes = {"_read", "_copy"}
    probed = [names for names in rounds if names & probes]
    assert probed
    if fits_in_cache:
        assert all(names == probes for names in probed)
    else:
        assert all(names - probes == {"fastloss"} for names in probed)
    for numbers in row["passes"].values():
        assert set(numbers["ms"]) == {"fastloss"} and "percent_of_memory_bound" in numbers


@pytest.mark.parametrize("name, size", [("mse_loss", 1000), ("cross_entropy", (37, 11)), ("softmax", (37, 11))])
def test_torch_compile_is_a_peer_checked_timed_and_its_compile_time_reported_apart(name, size, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.undo()  # the real torch_compile_calls
    monkeypatch.setattr(measure, "TORCH_COMPILE_BACKEND", "aot_eager")  # the harness, not Inductor, is tested
    case = registry.CASES[name]
    row = measure.time_case(F, case, size, repeats=1)
    assert row["peer_problems"] == {}
    for numbers in row["passes"].values():
        assert "torch.compile" in numbers["ms"]
    assert row["torch_compile_seconds"] > 0
    label = f"{name} {report.size_label(size)}"
    assert any(label in line and "compile time" in line for line in report.times_summary([row]))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_library_agrees_with_the_numpy_reference(case):
    inputs = case.make(np.random.default_rng(1), TINY[case.kind])
    calls = measure.library_calls(F, case, inputs)
    assert measure.check_case(case, calls) == {}
    assert set(calls["fastloss"]) == set(case.passes)


def test_a_wrong_result_is_reported_and_not_timed():
    case = registry.CASES["mse_loss"]
    inputs = case.make(np.random.default_rng(1), 100)
    calls = measure.library_calls(F, case, inputs)
    calls["numpy"]["with_grad"] = lambda: (case.value(np, *inputs) * 1.01, case.numpy_grad(*inputs))
    assert "fastloss" in measure.check_case(case, calls)


def test_bytes_moved_count_inputs_read_and_gradient_written():
    x, y = registry.CASES["mse_loss"].make(np.random.default_rng(0), 64)
    assert registry.CASES["mse_loss"].bytes_moved((x, y), "forward") == 2 * 64 * 4
    assert registry.CASES["mse_loss"].bytes_moved((x, y), "with_grad") == 3 * 64 * 4
    logits, labels = registry.CASES["nll_loss"].make(np.random.default_rng(0), (8, 100))
    assert registry.CASES["nll_loss"].bytes_moved((logits, labels), "forward") == 8 * 8 + 8 * 64
    assert registry.CASES["nll_loss"].bytes_moved((logits, labels), "backward") == 8 * 8 + 8 * 100 * 4


def test_interleaved_medians_time_every_library():
    calls = []
    medians = measure.interleaved_medians_ms({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3)
    assert set(medians) == {"a", "b"} and all(v >= 0 for v in medians.values())
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then rotating order


def test_a_run_reports_markdown_json_and_readme_with_a_missing_peer_as_na(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "QUICK_ELEMENTWISE_SIZES", [1 << 10])
    monkeypatch.setattr(measure, "jax_calls", lambda case, inputs: None)  # as if JAX were not installed
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_BEGIN}\nold\n{report.README_END}\noutro\n")
    threads = fastloss.get_num_threads()
    document = run.main(["--quick", "--cases", "mse_loss", "--repeats", "1", "--results", str(tmp_path),
                         "--no-memory", "--no-targets", "--update-readme", "--readme", str(readme)])
    assert fastloss.get_num_threads() == threads
    out = capsys.readouterr().out
    assert "| mse_loss | 2^10 | with_grad |" in out and "n/a" in out
    assert (tmp_path / "latest.json").exists()
    assert (tmp_path / "latest.png").exists() == (importlib.util.find_spec("matplotlib") is not None)
    assert set(document["results"][0]["passes"]["with_grad"]["ms"]) == {"fastloss", "torch", "numpy"}
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text and "| mse_loss |" in text


def _one_pass_document(moved_bytes: int) -> dict:
    return {"results": [{"case": "mse_loss", "size": 1 << 24, "out_of_cache": True, "peer_problems": {},
                         "passes": {"forward": {"ms": {"fastloss": 2.0, "jax": 1.0}, "bytes": moved_bytes,
                                                "percent_of_memory_bound": 50.0}}}]}


def test_speed_target_misses_name_the_slower_case():
    misses = report.speed_target_misses(_one_pass_document(1 << 27))
    assert any("slower than jax" in m for m in misses) and any("50% of memory bound" in m for m in misses)


def test_a_pass_moving_less_than_the_caches_is_not_judged_against_bandwidth():
    misses = report.speed_target_misses(_one_pass_document(1 << 16))
    assert any("slower than jax" in m for m in misses) and not any("memory bound" in m for m in misses)


def test_quick_runs_the_memory_bound_losses_out_of_cache():
    for name in ("mse_loss", "l1_loss", "nll_loss"):
        case = registry.CASES[name]
        assert any(measure.out_of_cache(case, size) for size in run.case_sizes(case, quick=True)), name
    sigmoid = registry.CASES["sigmoid"]
    assert not any(measure.out_of_cache(sigmoid, size) for size in run.case_sizes(sigmoid, quick=True))


def test_the_in_place_fused_call_adds_no_gradient_sized_memory():
    case = registry.CASES["mse_loss"]
    peak = measure.peak_extra_memory(case, threads=1)
    gradient_mib = measure.out_of_cache_size(case) * 4 / 2**20
    assert peak["fastloss_in_place"] < 0.1 * gradient_mib
    assert peak["fastloss"] >= 0.9 * gradient_mib  # a new gradient is allocated and touched
    if peak["torch"] is not None:
        assert peak["torch"] >= 0.9 * gradient_mib


def test_each_runnable_target_is_timed_and_others_say_why():
    targets = measure.per_target_ms(["baseline", "no_such_target"], 1, ["mse_loss"], repeats=1)
    assert set(targets["baseline"]) == {"mse_loss"}
    assert isinstance(targets["no_such_target"], str)


# --- one harness, one definition of "out of cache" ------------------------------------------------

PLANTED_MS = 123.0  # what the fake timing function returns: a printed 123 came from the harness
PLANTED_PEAK = {"fastloss": 1.5, "fastloss_in_place": 0.5, "torch": 2.5}


@pytest.fixture
def planted_harness(monkeypatch):
    """measure's timing, check and peak-memory functions replaced by ones that record their
    calls and return planted numbers (the check also reports NumPy as disagreeing), so that a
    script's output can only show them if it went through the harness."""
    events = []

    def medians(libraries, repeats, warm_up=True):
        events.append(("time", tuple(libraries)))
        return {name: PLANTED_MS for name in libraries}

    def check(case, calls):
        events.append(("check", case.name))
        return {"numpy": "planted disagreement"}

    def peak(case, threads, size=None):
        events.append(("memory", case.name))
        return PLANTED_PEAK

    monkeypatch.setattr(measure, "interleaved_medians_ms", medians)
    monkeypatch.setattr(measure, "check_case", check)
    monkeypatch.setattr(measure, "peak_extra_memory", peak)
    # run.main's --class-shapes writes into these lists; a copy keeps other tests' sizes.
    monkeypatch.setattr(registry, "CLASS_SHAPES", list(registry.CLASS_SHAPES))
    monkeypatch.setattr(registry, "QUICK_CLASS_SHAPES", list(registry.QUICK_CLASS_SHAPES))
    monkeypatch.setattr(bench_cross_entropy, "SHAPES", [(37, 11)])
    return events


SCRIPTS = {  # main(results folder), the cross_entropy size it runs, whether it measures memory
    "quick": (lambda tmp: quick.main(["--size", "10", "--repeats", "1", "--threads", "1"]), "1x1000", False),
    "bench_cross_entropy": (lambda tmp: bench_cross_entropy.main(["--repeats", "1", "--threads", "1"]), "37x11", True),
    "run": (lambda tmp: run.main(["--mode", "interleaved", "--cases", "cross_entropy", "--class-shapes", "37x11",
                                  "--repeats", "1",
                                  "--threads", "1", "--no-targets", "--no-plot", "--results", str(tmp)]), "37x11", True),
}


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_script_times_checks_and_measures_memory_through_the_harness(script, planted_harness, tmp_path,
                                                                         capsys):
    main, size, measures_memory = SCRIPTS[script]
    main(tmp_path)
    out = capsys.readouterr().out
    first_check = planted_harness.index(("check", "cross_entropy"))
    timed = [libraries for event, libraries in planted_harness[first_check:] if event == "time"]
    assert timed and all("numpy" not in libraries for libraries in timed), "checked, then timed without NumPy"
    assert f"| cross_entropy | {size} | with_grad | 123 |" in out
    assert "numpy not timed (planted disagreement)" in out
    assert fastloss.simd_target() in out
    assert (("memory", "cross_entropy") in planted_harness) == measures_memory
    if measures_memory:
        assert "| 0.5 | 1.5 | 2.5 |" in out


def test_linear_cross_entropy_runs_with_its_chunked_peer_gemm_floor_and_peak_memory(tmp_path, monkeypatch, capsys):
    """run.py --cases linear_cross_entropy: forward and fused pass against torch's reference and
    chunked paths, the GEMM floor timed beside them, peak memory at the timed size."""
    monkeypatch.setattr(registry, "LM_HEAD_SHAPES", list(registry.LM_HEAD_SHAPES))
    monkeypatch.setattr(registry, "QUICK_LM_HEAD_SHAPES", list(registry.QUICK_LM_HEAD_SHAPES))
    case = registry.CASES["linear_cross_entropy"]
    assert "linear_cross_entropy" not in registry.unregistered(F)
    assert "torch_chunked" in measure.case_libraries(case)  # isolated mode runs it in a process of its own
    threads = fastloss.get_num_threads()
    try:
        document = run.main(["--mode", "interleaved", "--cases", "linear_cross_entropy", "--lm-head-shapes",
                             "8x50x16", "--repeats", "1", "--threads", "1", "--no-targets", "--no-plot",
                             "--results", str(tmp_path)])
    finally:
        fastloss.set_num_threads(threads)
    (row,) = document["results"]
    assert row["size"] == [8, 50, 16] and row["peer_problems"] == {} and set(row["passes"]) == {"forward", "with_grad"}
    torch_installed = importlib.util.find_spec("torch") is not None
    for numbers in row["passes"].values():
        assert numbers["floor_ms"] > 0 and "percent_of_memory_bound" not in numbers
        assert {"fastloss", "numpy"} <= set(numbers["ms"])
        assert ({"torch", "torch_chunked"} <= set(numbers["ms"])) == torch_installed
    peak = document["peak_extra_memory_mib"]["linear_cross_entropy 8x50x16"]
    assert peak["gradients"] == (8 * 16 + 50 * 16) * 4 / 2**20
    assert (peak["torch_chunked"] is not None) == torch_installed
    out = capsys.readouterr().out
    assert "| linear_cross_entropy | 8x50x16 | with_grad |" in out and "fastloss / floor" in out
    assert ("torch_chunked ms" in out) == torch_installed and "returned gradients" in out


def test_bench_cross_entropy_also_times_the_fused_pass_over_its_input(planted_harness, capsys):
    bench_cross_entropy.main(["--repeats", "1", "--threads", "1"])
    assert "| cross_entropy | 37x11 | with_grad, out= the input | 123 |" in capsys.readouterr().out
    assert any("fastloss_in_place" in libraries for event, libraries in planted_harness if event == "time")


def test_bench_broadcast_runs_every_case(capsys):
    previous = fastloss.get_num_threads()
    try:
        bench_broadcast.main(["--rows", "5", "--classes", "3", "--repeats", "1", "--threads", "1"])
    finally:
        fastloss.set_num_threads(previous)
    printed = capsys.readouterr().out
    for name in ("bce_with_logits pos_weight (C,)", "bce_with_logits weight (N, 1)", "bce_with_logits none",
                 "mse target (N, 1)"):
        assert re.search(re.escape(name) + r" +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$", printed, re.M), name


def test_bench_half_checks_and_times_every_dtype_and_pass(capsys):
    previous = fastloss.get_num_threads()
    try:
        results = bench_half.main(["--sizes", "10", "--repeats", "1", "--threads", "1"])
    finally:
        fastloss.set_num_threads(previous)
    printed = capsys.readouterr().out
    halves = [name for name in bench_half.half_dtypes(["float16", "bfloat16"])]
    assert "float16" in halves
    for loss in bench_half.LOSSES:
        for pass_name in ("forward", "with_grad"):
            case = f"{loss} 2^10 {pass_name}"
            assert set(results[case]) == {"float32", *halves}, case
            assert re.search(re.escape(case) + r" +[0-9.]+" + r" +[0-9.]+ +[0-9.]+" * len(halves) + "$", printed, re.M)


def test_bench_half_rejects_a_wrong_half_gradient():
    x = np.linspace(-2, 2, 64, dtype=np.float16)
    y = np.zeros(64, np.float16)
    out = np.empty(64, np.float16)
    bench_half.check("mse_loss", x, y, out)  # right
    wrong = F.mse_loss_with_grad

    def off_by_one_ulp(*args, **kwargs):
        loss, grad = wrong(*args, **kwargs)
        if grad.dtype == np.float16:
            grad.view(np.uint16)[0] += 1
        return loss, grad

    try:
        F.mse_loss_with_grad = off_by_one_ulp
        with pytest.raises(AssertionError):
            bench_half.check("mse_loss", x, y, out)
    finally:
        F.mse_loss_with_grad = wrong


def test_quick_needs_only_numpy():
    """torch and JAX made unimportable: their columns read n/a."""
    program = ("import runpy, sys; sys.modules['torch'] = sys.modules['jax'] = None; "
               "sys.argv = ['quick.py', '--size', '10', '--repeats', '1', '--threads', '1']; "
               f"runpy.run_path({os.path.join(BENCH, 'quick.py')!r}, run_name='__main__')")
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=BENCH)
    assert completed.returncode == 0, completed.stderr
    assert "| mse_loss | 2^10 | with_grad |" in completed.stdout
    assert re.search(r"\| mse_loss \| 2\^10 \| with_grad \| [^|]+ \| n/a \| n/a \| n/a \| [^|]+ \| n/a \| n/a \| n/a \|",
                     completed.stdout)


def test_out_of_cache_is_defined_once_in_the_harness():
    for script in (quick, run, bench_cross_entropy, report):
        assert script.measure is measure, script.__name__
    definition = re.compile(r"^\s*(\w*OUT_OF_CACHE\w*)\s*=|^def (\w*out_of_cache(?:_size)?)\(", re.M)
    for path in glob.glob(os.path.join(BENCH, "*.py")):
        with open(path) as handle:
            found = {"".join(names) for names in definition.findall(handle.read())}
        expected = {"OUT_OF_CACHE_BYTES", "_OUT_OF_CACHE_CLASSES", "_OUT_OF_CACHE_SEQUENCES", "_OUT_OF_CACHE_LM_HEAD",
                    "out_of_cache", "out_of_cache_size"}
        assert found == (expected if os.path.basename(path) == "measure.py" else set()), path
    with open(os.path.join(BENCH, "README.md")) as handle:
        assert "measure.OUT_OF_CACHE_BYTES" in handle.read()
    for kind, size in TINY.items():
        case = next(c for c in CASES if c.kind == kind)
        assert measure.out_of_cache(case, measure.out_of_cache_size(case)) and not measure.out_of_cache(case, size)
    assert measure.BandwidthProbe.__init__.__defaults__ == (2 * measure.OUT_OF_CACHE_BYTES,)


def test_dtype_times_half_inputs_for_every_library_and_skips_float32_only_cases(tmp_path, monkeypatch, capsys):
    """run.py --dtype bfloat16: the float32 inputs rounded, checked against NumPy on the widened
    values; a peer without a bfloat16 kernel is reported, ctc_loss (float32 only) skipped."""
    pytest.importorskip("ml_dtypes")
    monkeypatch.setenv(measure.DTYPE_VARIABLE, "float32")  # restored after run.main sets it
    monkeypatch.setattr(registry, "CLASS_SHAPES", list(registry.CLASS_SHAPES))
    monkeypatch.setattr(registry, "QUICK_CLASS_SHAPES", list(registry.QUICK_CLASS_SHAPES))
    threads = fastloss.get_num_threads()
    try:
        document = run.main(["--mode", "interleaved", "--dtype", "bfloat16", "--cases",
                             "cross_entropy,multi_margin_loss,ctc_loss", "--class-shapes", "37x11", "--repeats", "1",
                             "--threads", "1", "--no-targets", "--no-memory", "--no-plot", "--results", str(tmp_path)])
    finally:
        fastloss.set_num_threads(threads)
    assert document["machine"]["dtype"] == "bfloat16"
    assert [row["case"] for row in document["results"]] == ["cross_entropy", "multi_margin_loss"]
    for row in document["results"]:
        assert "fastloss" in row["passes"]["with_grad"]["ms"]
        assert "fastloss" not in row["peer_problems"]
    inputs = measure.case_inputs(registry.CASES["cross_entropy"], (37, 11))
    assert inputs[0].dtype.name == "bfloat16" and inputs[1].dtype == np.int64
    if importlib.util.find_spec("torch") is not None:
        assert "no bfloat16 support" in document["results"][1]["peer_problems"]["torch"]
        assert "torch" in document["results"][0]["passes"]["with_grad"]["ms"]
    assert "bfloat16, reduction mean" in capsys.readouterr().out
