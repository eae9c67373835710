"""`stc-gpu bench tables`, `stc-gpu bench run` and the benchmark runner (each benchmark in its own
process; failures, timeouts and bad results reported without stopping the others)."""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import benchmarks
from benchmarks.__main__ import discover, render_report, run_all
from stc_gpu.cli import cli

_OK = '''
from benchmarks import bench_main

def run(quick, device):
    return {"name": "ok", "title": "An ok benchmark", "notes": ["a note"],
            "rows": [{"size": 1 if quick else 2, "device": device, "a|b": 0.5}]}

if __name__ == "__main__":
    bench_main(run, "ok")
'''
_FAIL = 'raise RuntimeError("broken on purpose")\n'
_SLOW = 'import time\ntime.sleep(30)\n'
_BAD = '''
import argparse, json
parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
parser.add_argument("--device")
parser.add_argument("--json")
args = parser.parse_args()
open(args.json, "w").write(json.dumps({"name": "bad"}))
'''


@pytest.fixture
def fake_benchmarks(tmp_path, monkeypatch):
    """A benchmark package outside the checkout: its modules run from tmp_path, so they import
    ``benchmarks`` from the checkout through PYTHONPATH."""
    checkout = str(Path(benchmarks.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (checkout, os.environ.get("PYTHONPATH")) if p))
    package = tmp_path / "fakebench"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, source in (("bench_ok", _OK), ("bench_fail", _FAIL), ("bench_slow", _SLOW),
                         ("bench_bad", _BAD), ("helper_not_a_bench", _FAIL)):
        (package / f"{name}.py").write_text(textwrap.dedent(source))
    return package


def test_bench_tables_prints_and_writes_json(tmp_path):
    path = tmp_path / "sub" / "tables.json"
    result = CliRunner().invoke(cli, ["bench", "tables", "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert "Table 5" in result.output and "Table 6" in result.output
    assert "GPT2-XL" in result.output and "largest |relative difference|" in result.output
    tables = json.loads(path.read_text())
    xl = tables["models"]["GPT2-XL"]
    assert set(xl["table5"]) == {"finetune", "stc", "ratio"}
    assert xl["table6"]["speedup"]["paper"] == 2.82
    assert abs(xl["table6"]["speedup"]["ours"] - 2.82) < 0.03
    assert tables["setup"]["n_train_texts"] == 25_000


def test_discover_finds_bench_modules_only(fake_benchmarks):
    assert discover(fake_benchmarks) == ["bench_bad", "bench_fail", "bench_ok", "bench_slow"]
    assert "bench_cost_tables" in discover()


def test_runner_reports_failures_without_stopping(fake_benchmarks, tmp_path):
    out = tmp_path / "out"
    records = run_all(quick=True, out_dir=out, timeout_s=4, bench_dir=fake_benchmarks)
    status = {r["name"]: r["status"] for r in records}
    assert status == {"bench_bad": "failed", "bench_fail": "failed", "bench_ok": "ok",
                      "bench_slow": "timeout"}
    by_name = {r["name"]: r for r in records}
    assert "broken on purpose" in by_name["bench_fail"]["error"]
    assert "lacks title, rows, notes" in by_name["bench_bad"]["error"]
    assert by_name["bench_ok"]["result"]["rows"] == [{"size": 1, "device": "cpu", "a|b": 0.5}]

    saved = json.loads((out / "results.json").read_text())
    assert saved["quick"] is True and [r["name"] for r in saved["benchmarks"]] == sorted(status)
    assert saved["machine"]["cpu_cores"] >= 1 and saved["machine"]["torch"]
    assert json.loads((out / "bench_ok.json").read_text())["title"] == "An ok benchmark"
    report = (out / "report.md").read_text()
    assert "## An ok benchmark" in report and "| 1 | cpu | 0.5 |" in report
    assert "## bench_slow: timeout" in report and "- a note" in report
    assert "a\\|b" in report  # pipes in cells are escaped


def test_runner_budget_caps_each_benchmark(fake_benchmarks, tmp_path):
    records = run_all(out_dir=tmp_path, only=["bench_slow", "bench_ok"], timeout_s=60,
                      budget_s=8, bench_dir=fake_benchmarks)
    assert [r["name"] for r in records] == ["bench_ok", "bench_slow"]
    assert records[0]["status"] == "ok" and records[1]["status"] in ("timeout", "skipped")
    assert sum(r["wall_s"] for r in records) < 9


def test_runner_starts_nothing_without_budget(fake_benchmarks, tmp_path):
    records = run_all(out_dir=tmp_path, only=["bench_ok"], budget_s=1, bench_dir=fake_benchmarks)
    assert records[0]["status"] == "skipped" and not (tmp_path / "bench_ok.json").exists()


def test_runner_rejects_unknown_names(fake_benchmarks, tmp_path):
    with pytest.raises(ValueError, match="no benchmark named nope"):
        run_all(out_dir=tmp_path, only=["nope"], bench_dir=fake_benchmarks)


def test_bench_run_cli_runs_the_cost_tables(tmp_path):
    out = tmp_path / "bench"
    result = CliRunner().invoke(cli, ["bench", "run", "--quick", "--only", "bench_cost_tables",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "Paper Tables 5 and 6" in report and "| 6 | GPT2-XL |" in report


def test_bench_run_cli_names_unknown_benchmarks(tmp_path):
    result = CliRunner().invoke(cli, ["bench", "run", "--only", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no benchmark named nope" in result.output


def test_bench_run_cli_needs_a_source_checkout(tmp_path, monkeypatch):
    import stc_gpu.cli.bench

    monkeypatch.setattr(stc_gpu.cli.bench, "__file__", str(tmp_path / "stc_gpu" / "cli" / "x.py"))
    result = CliRunner().invoke(cli, ["bench", "run", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "not installed with stc-gpu" in result.output
    assert "python -m benchmarks" in result.output and not (tmp_path / "out").exists()


def test_check_result_names_the_problem():
    with pytest.raises(ValueError, match="returns a dict"):
        benchmarks.check_result([])
    with pytest.raises(ValueError, match="rows must be dicts"):
        benchmarks.check_result({"name": "x", "title": "x", "notes": [], "rows": [1]})


def test_render_report_lists_gpus_and_skips():
    machine = {"cpu": "X", "cpu_cores": 2, "platform": "p", "python": "3", "torch": "t",
               "cuda": "12", "gpus": ["NVIDIA H200"]}
    text = render_report(machine, [{"name": "bench_a", "status": "skipped", "wall_s": 0.0,
                                    "error": "the total budget was spent"}],
                         quick=False, device="cuda", started="now")
    assert "GPUs: NVIDIA H200" in text and "full sizes, device `cuda`" in text
    assert "## bench_a: skipped" in text and "budget was spent" in text
