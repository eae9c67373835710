"""The model card (``README.md``) of an exported classifier: data, metrics, layers, neurons, use."""
from __future__ import annotations


def _pct(value) -> str:
    return f"{100 * value:.1f}" if isinstance(value, (int, float)) else "n/a"


def _metrics(results: dict | None) -> list[str]:
    if not results or "selection" not in results:
        return ["No `results.json` was found beside the classifier, so no scores are recorded here; "
                "measure the exported classifier on held-out data before relying on it."]
    selection = results["selection"]
    lines = [f"Scores on the run's splits (percent; selection metric: {results.get('metric')}). "
             "The test split was scored once, after the selection.", "",
             "| classifier | validation acc | validation F1 | test acc | test F1 | configuration |",
             "|---|---|---|---|---|---|"]
    labels = {"agg": "**STC Agg. (this export)**", "probe": "best single-layer probe",
              "embedding": "embedding baseline"}
    for name in ("agg", "probe", "embedding"):
        s = selection.get(name)
        if s is None:
            continue
        conf = ", ".join(f"{k}={s[k]}" for k in ("kind", "pool", "layer", "eta", "L_temp", "C",
                                                 "n_features") if k in s)
        val_acc = s.get("val_acc", s.get("val_score") if results.get("metric") == "accuracy" else None)
        lines.append(f"| {labels[name]} | {_pct(val_acc)} | {_pct(s.get('val_f1'))} | "
                     f"{_pct(s.get('test_acc'))} | {_pct(s.get('test_f1'))} | {conf} |")
    return lines


def _data(results: dict | None, config: dict) -> list[str]:
    source = (results or {}).get("dataset") or config.get("data") or "the built-in RT snippets demo"
    lines = [f"- source: `{source}` (text column `{config.get('text_column')}`, "
             f"task `{(results or {}).get('task', ', '.join(config.get('label_columns') or []))}`)"]
    n = (results or {}).get("n")
    if n:
        splits = (results or {}).get("splits", {})
        lines.append(f"- rows: {n.get('train')} train, {n.get('val')} validation, {n.get('test')} "
                     f"test (split seed {splits.get('seed', config.get('seed'))})")
    if config.get("max_texts"):
        lines.append(f"- only the first {config['max_texts']} rows of the source were used")
    return lines


def model_card(serving: dict, config: dict, results: dict | None = None) -> str:
    """Markdown model card of an export.

    Parameters
    ----------
    serving : the export's ``serving.json`` dict
    config : the classifier's ``STCConfig.to_dict()``
    results : the run's ``results.json`` for this classifier's task, when available
    """
    model, sel, check = serving["model"], serving.get("selection", {}), serving["check"]
    classes = ", ".join(f"`{c}`" for c in serving["classes"])
    sites = "\n".join(f"| {b['kind']}.{b['layer']} | {len(b['ids'])} | "
                      f"{', '.join(map(str, b['ids'][:12]))}{' ...' if len(b['ids']) > 12 else ''} |"
                      for b in serving["blocks"])
    lines = [
        f"# STC classifier on {model['name']}: {classes}", "",
        "A Sparsify-then-Classify classifier (L1 logistic probes on a frozen transformer's "
        "internal neurons, η-sparsified and aggregated across layers), exported by stc-gpu "
        f"{serving['stc_gpu_version']} as one ONNX graph from token ids and mask to class "
        "probabilities.", "",
        "## Model", "",
        f"- base model: `{model['name']}` (revision {model.get('revision') or 'default'}, "
        f"{serving['model_type']}, family {serving['family']}), weights sha256 "
        f"`{str(model.get('weights_sha256'))[:16]}...`",
        f"- layers used: blocks 0..{serving['n_blocks'] - 1} of {serving['n_layers']} "
        f"(L_temp = {sel.get('L_temp')}); the later blocks and the model's head are not in the "
        "export",
        f"- features: {serving['n_features']} neurons, {serving['pool']}-pooled over the valid "
        f"tokens, in {serving['feature_dtype']}, standardised, then an L1 "
        f"logistic head ({serving['head']})",
        f"- tokens: at most {serving['max_length']} per text (longer texts are cut on the "
        f"{serving['truncation_side']})", "",
        "| site | neurons | ids (importance order; all in `serving.json`) |", "|---|---|---|",
        sites, "",
        "## Data", "", *_data(results, config), "",
        "## Metrics", "", *_metrics(results), "",
        "## How it was selected", "",
        f"Validation chose the kind ({sel.get('kind')}), pool ({sel.get('pool')}), η "
        f"({sel.get('eta')}), L_temp ({sel.get('L_temp')}) and C ({sel.get('C')}) among kinds "
        f"{config.get('kinds')}, pools {config.get('pools')}, η grid {config.get('eta_grid')} and "
        f"C grid {config.get('C_grid')} (metric: {config.get('metric')}); the test split played "
        "no part in it.", "",
        "## Intended use", "",
        f"Sorting texts like the training data (same language, domain and length) into {classes}. "
        "Out of that domain, check it on labelled examples first. The probabilities come from a "
        "logistic model and are not calibrated beyond the training distribution. Do not use it "
        "alone for decisions about people.", "",
        "## Checked", "",
        f"onnxruntime against the torch classifier (float32) on {check['texts']} texts padded "
        f"right and left: features within {check['max_feature_difference']:.1e} (relative), "
        f"probabilities within {check['max_probability_difference']:.1e}.", "",
        "## Serving", "",
        "```python",
        "from stc_gpu.export.runtime import ExportedClassifier  # onnxruntime + tokenizers + numpy",
        "clf = ExportedClassifier(\"this-folder\")",
        "clf.predict([\"some text\"]), clf.predict_proba([\"some text\"])",
        "```", "",
        "`model.onnx` inputs: `input_ids`, `attention_mask` (int64, batch x tokens, padding on "
        "either side); outputs: `probabilities` (float32, batch x classes, columns in the order "
        "of `classes` in `serving.json`) and `features` (the head's input, batch x neurons). `manifest.json` holds the sha256 of every file; the "
        "runtime refuses a folder that does not match it.", "",
    ]
    return "\n".join(lines)
