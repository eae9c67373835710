"""The summary ``stc-gpu run`` prints per task: test scores and what validation selected."""
from __future__ import annotations


def summary_table(results: dict) -> str:
    """Test scores of the references (Embedding, the model's own pooling), the best probe and
    Agg., each with what validation selected; then how many texts were cut at max_length."""
    from stc_gpu.report.tables import APPROACHES

    if results.get("multi_label"):
        return _multilabel_summary(results)
    sel = results["selection"]
    lines = [f"{'':<11} {'test acc':>9} {'test F1':>9}  configuration"]
    for name, _ in APPROACHES:
        if name in sel:
            s = sel[name]
            lines.append(f"{_approach(name):<11} {s['test_acc']:>9.4f} {s['test_f1']:>9.4f}  "
                         f"{_configuration(name, s)}")
    return "\n".join(lines + _truncation(results))


def _approach(name: str) -> str:
    return name.replace("_pooling", " pool")


def _configuration(name: str, s: dict) -> str:
    """What validation selected for approach ``name`` (``s``: its selection), in one line."""
    if name == "own_pooling" and "normalize" not in s:  # the rule fell back
        return "the Embedding: " + s["rule"].rsplit(":", 1)[0]
    return ", ".join(f"{k}={s[k]}" for k in ("kind", "pool", "layer", "normalize", "eta",
                                             "L_temp", "C", "n_features") if k in s)


def _truncation(results: dict) -> list[str]:
    if "truncation" not in results:
        return []
    cut = results["truncation"]
    return [f"truncated: {cut['truncated']:,} of {cut['texts']:,} texts at "
            f"{cut['max_length']:,} tokens"]


def _multilabel_summary(results: dict) -> str:
    """A multi-label task: micro/macro-F1 and subset accuracy of each approach over the test
    label sets, then each label's test F1 per approach and its selected aggregation."""
    scores = results["scores"]
    lines = [f"{len(results['labels'])} labels, {results['n']['test']:,} test texts",
             f"{'':<11} {'micro F1':>9} {'macro F1':>9} {'subset acc':>11}"]
    lines += [f"{_approach(name):<11} {s['micro_f1']:>9.4f} {s['macro_f1']:>9.4f} "
              f"{s['subset_acc']:>11.4f}" for name, s in scores.items()]
    width = max(len(str(label)) for label in results["labels"] + ["label"])
    lines.append(f"{'label':<{width}} {'test rows':>9} "
                 + " ".join(f"{_approach(name):>9}" for name in scores) + "  agg configuration")
    for label in results["labels"]:
        agg = results["per_label"][label]["selection"]["agg"]
        lines.append(f"{label:<{width}} {results['label_counts'][label]['test']:>9,} "
                     + " ".join(f"{scores[name]['per_label'][label]['f1']:>9.4f}"
                                for name in scores)
                     + f"  {_configuration('agg', agg)}")
    return "\n".join(lines + _truncation(results))
