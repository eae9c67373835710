"""Report: tables, results JSON, figures (valid PNGs, clear errors) and token heat maps."""
from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.image import imread

from stc_gpu.report import (layer_table_markdown, plot_layer_curve, plot_salient_histograms,
                            plot_what_which_where, read_results_json, selection_markdown,
                            table4_markdown, write_results_json)
from stc_gpu.report.tables import to_jsonable
from stc_gpu.stc.records import best_per, matching, metric_key, n_layers, only_value

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _results():
    rng = np.random.default_rng(0)
    probe_best, aggregation = [], []
    for kind, depth in (("hidden", 4), ("ffn", 3)):
        for pool in ("mean", "max"):
            for layer in range(depth):
                score = 0.6 + 0.05 * layer
                probe_best.append({"kind": kind, "pool": pool, "layer": layer, "C": 0.5,
                                   "val_acc": score, "val_f1": score - 0.01, "test_acc": score - 0.02})
                for eta in (0.1, 0.5):
                    for C in (0.1, 1.0):
                        agg = score + 0.02 + (0.01 if eta == 0.5 else 0) + (0.005 if C == 1 else 0)
                        aggregation.append({"kind": kind, "pool": pool, "eta": eta, "L_temp": layer,
                                            "C": C, "n_features": int((layer + 1) * 100 * eta),
                                            "val_acc": np.float32(agg), "val_f1": agg - 0.02})
    return {"task": "sentiment", "model": "tiny-bert", "dataset": "rt", "metric": "accuracy",
            "probes": [], "probe_best": probe_best, "aggregation": aggregation,
            "selection": {"probe": {"kind": "ffn", "pool": "max", "layer": 2, "C": 0.5, "val_acc": 0.7,
                                    "val_f1": 0.69, "test_acc": 0.68, "test_f1": 0.675},
                          "agg": {"kind": "ffn", "pool": "max", "eta": 0.5, "L_temp": 2, "C": 1.0,
                                  "n_features": 150, "val_acc": 0.735, "val_f1": 0.715,
                                  "test_acc": np.float64(0.7251), "test_f1": 0.71}},
            "timings": {"fit_s": np.float32(1.5)}, "flops": {"probe": np.int64(10**12)},
            "rng": rng.standard_normal(2)}


# ---------------------------------------------------------------- records

def test_record_helpers():
    rows = [{"k": "a", "s": 0.1, "L_temp": 0}, {"k": "a", "s": 0.3, "L_temp": 2, "n_layers": 1},
            {"k": "b", "s": 0.2, "L_temp": 1}]
    assert metric_key("accuracy") == "acc" and metric_key("Macro_F1") == "f1"
    with pytest.raises(ValueError, match="metric"):
        metric_key("auc")
    assert matching(rows, k="a", s=None) == rows[:2]
    assert best_per(rows, ("k",), "s") == {("a",): rows[1], ("b",): rows[2]}
    assert only_value(rows[:2], "k") == "a"
    with pytest.raises(ValueError, match=r"2 values of 'k'.*k=\.\.\."):
        only_value(rows, "k")
    assert [n_layers(row) for row in rows] == [1, 1, 2]


# ---------------------------------------------------------------- tables

def test_table4_shape_and_values():
    table = table4_markdown(_results())
    lines = table.strip().splitlines()
    assert lines[0].startswith("| Dataset/task | Model | Embedding acc | Embedding macro-F1 | "
                               "Own pooling acc | Own pooling macro-F1 | Probes acc")
    assert lines[2] == ("| rt / sentiment | tiny-bert | — | — | — | — | 68.00 | 67.50 | 72.51 "
                        "| 71.00 |")
    both = _results()
    both["selection"].update(
        embedding={"kind": "final", "pool": "single", "layer": 3, "C": 0.1, "test_acc": 0.6,
                   "test_f1": 0.59},
        own_pooling={"kind": "final", "pool": "mean", "layer": 3, "C": 1.0, "normalize": True,
                     "test_acc": 0.65, "test_f1": 0.64})
    assert table4_markdown(both).strip().splitlines()[2] == (
        "| rt / sentiment | tiny-bert | 60.00 | 59.00 | 65.00 | 64.00 | 68.00 | 67.50 | 72.51 | 71.00 |")
    own = selection_markdown(both).strip().splitlines()[3]
    assert own.startswith("| rt / sentiment | tiny-bert | Own pooling | final | mean | 3 | 1 |")
    assert "| True |" in own
    two = table4_markdown([_results(), {**_results(), "task": "rt", "model": "m|x"}])
    assert two.strip().splitlines()[3].startswith(r"| rt | m\|x |")
    with pytest.raises(ValueError, match="no results"):
        table4_markdown([])


def test_selection_table():
    lines = selection_markdown(_results()).strip().splitlines()
    assert len(lines) == 4  # header, rule, probe, agg (no embedding)
    assert "| Agg. | ffn | max | — | 1 | 0.5 | 2 | 150 | — | 73.50 | 71.50 |" in lines[3]


def test_layer_table_picks_best_eta_on_validation():
    results = _results()
    table = layer_table_markdown(results, kind="hidden", pool="mean")
    rows = table.strip().splitlines()[2:]
    assert len(rows) == 4
    assert rows[1] == "| hidden | mean | 1 | 0.5 | 65.00 | 64.00 | 0.5 | 100 | 68.50 | 66.50 |"
    fixed = layer_table_markdown(results, kind="hidden", pool="mean", eta=0.1).strip().splitlines()
    assert fixed[3].split(" | ")[6:8] == ["0.1", "20"]
    assert len(layer_table_markdown(results).strip().splitlines()) == 2 + 14
    with pytest.raises(ValueError, match="no per-layer probe results"):
        layer_table_markdown(results, kind="nope")


def test_results_json_round_trip_and_conversion(tmp_path):
    results = _results()
    results["timings"]["bad"] = float("nan")
    path = write_results_json(tmp_path / "out" / "results.json", results)
    loaded = read_results_json(path)
    assert loaded["aggregation"][0]["val_acc"] == pytest.approx(0.62)
    assert loaded["flops"]["probe"] == 10**12 and loaded["timings"]["bad"] is None
    assert isinstance(loaded["rng"], list) and len(loaded["rng"]) == 2
    json.loads(path.read_text())  # strict JSON
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_results_json_failure_keeps_old_file(tmp_path):
    path = write_results_json(tmp_path / "results.json", {"a": 1})
    with pytest.raises(TypeError, match="cannot write object"):
        write_results_json(path, {"a": object()})
    assert read_results_json(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_to_jsonable():
    value = {1: (np.int8(3), {np.bool_(True)}), "p": tmp_path_like(), "x": np.array([[1.5, np.inf]])}
    assert to_jsonable(value) == {"1": [3, [True]], "p": "/a/b", "x": [[1.5, None]]}


def tmp_path_like():
    from pathlib import PurePosixPath
    return PurePosixPath("/a/b")


# ---------------------------------------------------------------- plots

def _assert_png(path):
    assert path.exists() and path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0.05  # something is drawn


def test_layer_curve(tmp_path):
    results = _results()
    path = plot_layer_curve(results["probe_best"], results["aggregation"], tmp_path / "fig2.png",
                            kind="ffn", pool="max", eta=0.5, metric="f1")
    assert path == tmp_path / "fig2.png"
    _assert_png(path)


def test_layer_curve_errors(tmp_path):
    results = _results()
    probes, aggs = results["probe_best"], results["aggregation"]
    with pytest.raises(ValueError, match="no probe rows"):
        plot_layer_curve([], aggs, tmp_path / "a.png")
    with pytest.raises(ValueError, match="no aggregation rows"):
        plot_layer_curve(probes, aggs, tmp_path / "a.png", kind="ffn", pool="max", eta=0.3)
    with pytest.raises(ValueError, match="choose one with kind="):
        plot_layer_curve(probes, aggs, tmp_path / "a.png", pool="max", eta=0.5)
    with pytest.raises(ValueError, match="choose one with eta="):
        plot_layer_curve(probes, aggs, tmp_path / "a.png", kind="ffn", pool="max")
    with pytest.raises(ValueError, match="PNG"):
        plot_layer_curve(probes, aggs, tmp_path / "a.pdf", kind="ffn", pool="max", eta=0.5)
    assert list(tmp_path.iterdir()) == []


def test_what_which_where(tmp_path):
    results = _results()
    _assert_png(plot_what_which_where(results["aggregation"], tmp_path / "fig3.png", "hidden"))
    one = [row for row in results["aggregation"] if row["pool"] == "max" and row["eta"] == 0.1
           and row["L_temp"] == 0]
    _assert_png(plot_what_which_where(one, tmp_path / "one.png", "ffn"))
    with pytest.raises(ValueError, match="no aggregation rows of kind 'nope'"):
        plot_what_which_where(results["aggregation"], tmp_path / "x.png", "nope")


def test_salient_histograms(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    features = {layer: rng.standard_normal((200, 2 + layer)) + y[:, None] for layer in range(9)}
    features[4][:, 0] = 1.0  # a constant neuron still draws
    path = plot_salient_histograms(features, y, ["a", "b", "c"], tmp_path / "fig4.png",
                                   agg_scores={layer: 0.5 + 0.03 * layer for layer in range(9)},
                                   neuron_ids={layer: list(range(10)) for layer in range(9)})
    _assert_png(path)
    _assert_png(plot_salient_histograms({0: features[0]}, y, ["a", "b", "c"], tmp_path / "plain.png"))


@pytest.mark.parametrize("features, y, names, match", [
    ({}, [0, 1], ["a", "b"], "empty"),
    ({0: np.zeros((3, 2))}, [0, 1], ["a", "b"], r"shape \(2, k >= 1\)"),
    ({0: np.zeros((2, 0))}, [0, 1], ["a", "b"], "k >= 1"),
    ({0: np.array([[np.nan], [0.0]])}, [0, 1], ["a", "b"], "NaN"),
    ({0: np.zeros((2, 1))}, [0, 2], ["a", "b"], r"outside 0\.\.1"),
    ({0: np.zeros((2, 1))}, [0.0, 1.0], ["a", "b"], "class codes"),
])
def test_salient_histogram_errors(tmp_path, features, y, names, match):
    with pytest.raises(ValueError, match=match):
        plot_salient_histograms(features, np.asarray(y), names, tmp_path / "x.png")


# ---------------------------------------------------------------- report.html tables

def test_timing_rows_put_the_flop_estimate_beside_the_measured_time():
    from stc_gpu.report.tables import timing_rows

    results = {"probes": [{}] * 4, "aggregation": [{}] * 6,
               "timings": {"extraction_s": 10.0, "probes_s": 2.0, "aggregation_s": 1.0,
                           "fit_s": 4.0},
               "flops": {"flops": {"forward": 2e10, "lr_probes": 4e9, "lr_aggregation": 1e9,
                                   "stc_total": 2.5e10, "finetune": 5e10}},
               "extraction": {"blocks_written": 1}}
    header, body = timing_rows(results)
    assert header == ["Stage", "Measured (s)", "Estimated FLOPs", "Achieved GFLOP/s"]
    assert body == [["Extraction: forward passes", "10.00", "2e+10", "2"],
                    ["Probes: 4 fits", "2.00", "4e+09", "2"],
                    ["Aggregation: 6 fits", "1.00", "1e+09", "1"],
                    ["Rest of the fit: references, test scoring", "1.00", "—", "—"],
                    ["STC total", "14.00", "2.5e+10", "1.79"],
                    ["Fine-tuning, one epoch (estimate only)", "—", "5e+10", "—"]]
    results["extraction"]["blocks_written"] = 0  # reused: no forward pass was timed
    body = timing_rows(results)[1]
    assert "reused from the store" in body[0][0] and body[0][3] == "—" and body[4][3] == "—"
    assert timing_rows({})[1][0] == ["Extraction: forward passes", "—", "—", "—"]


def test_candidates_and_the_probe_selection_show_validation_scores():
    from stc_gpu.report.tables import candidates_rows, selection_rows

    results = _results()
    header, body = candidates_rows(results)
    assert header[-1] == "Selected" and len(body) == 4  # 2 kinds x 2 pools
    scores = [float(row[6]) for row in body]
    assert scores == sorted(scores, reverse=True)
    assert [row[-1] for row in body].count("yes") == 1
    results["selection"]["probe"] = {"kind": "ffn", "pool": "max", "layer": 2, "C": 0.5,
                                     "val_score": 0.7, "test_acc": 0.68, "test_f1": 0.675}
    probe = next(row for row in selection_rows(results)[1] if row[2] == "Probes")
    assert probe[-2:] == ["70.00", "69.00"]  # from probe_best, which records both



def test_report_html_embeds_its_figures_or_says_which_is_missing(tmp_path):
    from stc_gpu.report.html import png_data_uri, report_html

    results = _results()
    curve = plot_layer_curve(results["probe_best"], results["aggregation"], tmp_path / "c.png",
                             kind="ffn", pool="max", eta=0.5)
    results["plots"] = {"layer_curve": str(curve)}
    page = report_html(results, config={"model": "tiny-bert"})
    assert page.count("<img ") == 1 and png_data_uri(curve) in page
    assert "<td>model</td><td>&quot;tiny-bert&quot;</td>" in page
    assert "Test texts, explained" not in page  # no examples given
    results["plots"]["salient_histograms"] = str(tmp_path / "gone.png")
    with pytest.raises(FileNotFoundError, match="gone.png is missing"):
        report_html(results, config={})
    (tmp_path / "fake.png").write_text("not an image")
    with pytest.raises(ValueError, match="fake.png is not a PNG file"):
        png_data_uri(tmp_path / "fake.png")
