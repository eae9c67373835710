"""The ``stc-gpu`` command line: one click group, one subcommand per stage."""
from __future__ import annotations

from pathlib import Path

import click

from stc_gpu import __version__
from stc_gpu.cli_options import HiddenArgument, comma_list, one_of, resolved, shared, shown
from stc_gpu.config import field_default
from stc_gpu.vocabulary import BACKENDS, METRICS, MULTICLASS_MODES


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stc-gpu")
def cli() -> None:
    """Sparsify-then-Classify: text classifiers from a frozen language model's neurons."""


@cli.command()
@click.argument("data_arg", metavar="[DATA]", required=False, type=click.Path(exists=True),
                cls=HiddenArgument)
@shared("data", "text_column", "model", "revision", "store")
@click.option("--layers", default=None, help="Comma-separated layer indices, e.g. 0,1,2.")
@shared("max_layer", "kinds", "pools", "max_length", "device", "dtype", "block_rows",
        "token_budget", "max_texts")
@click.option("--compressor", type=click.Choice(["none", "zstd"]), default="none",
              show_default=True, help="Compression of a new entry's feature arrays.")
@click.option("--wait/--no-wait", default=False, show_default=True,
              help="If another process is writing the same entry, wait for it instead of failing.")
@shared("quiet")
def extract(data_arg, data, model, revision, store, text_column, layers, max_layer, kinds,
            pools, max_length, device, dtype, block_rows, token_budget, max_texts, compressor,
            wait, quiet):
    """Extract pooled hidden/FFN features of the --data texts into a feature store.

    --data is a CSV/TSV, JSONL or Parquet file (optionally compressed) or a `datasets`
    save_to_disk folder. Rerunning resumes an interrupted extraction; an existing one is reused.
    Under `torchrun --nproc-per-node N stc-gpu extract ...` the N processes (one GPU each)
    share the blocks of one entry and rank 0 prints the summary of all of them.
    """
    from stc_gpu.distributed.torchrun import (RankFailedError, distributed_context,
                                              extract_distributed)
    from stc_gpu.extract.extractor import Extractor
    from stc_gpu.store import StoreLockedError

    data = one_of("--data", data, "DATA", data_arg)
    if data is None:
        raise click.UsageError("give the dataset with --data")
    if layers is not None and max_layer is not None:
        raise click.UsageError("give --layers or --max-layer, not both")
    store = resolved("store", store)
    try:
        with distributed_context(device) as ctx:
            extractor = Extractor.from_pretrained(
                resolved("model", model), revision=revision,
                kinds=tuple(resolved("kinds", kinds)), pools=tuple(resolved("pools", pools)),
                layers=comma_list(layers, "--layers", int), max_layer=max_layer,
                max_length=max_length, device=ctx.device if ctx.distributed else device,
                dtype=dtype, token_budget=token_budget)
            entry, summary = extract_distributed(
                data, extractor, store, ctx, text_column=resolved("text_column", text_column),
                block_rows=resolved("block_rows", block_rows), max_texts=max_texts,
                progress=not quiet and ctx.is_main, wait=wait, compressor=compressor)
    except (ValueError, FileNotFoundError, StoreLockedError, RankFailedError) as err:
        raise click.ClickException(str(err)) from None
    if not ctx.is_main:
        return
    click.echo(summary.format())
    click.echo(f"store {store}  entry {entry.key}  ({entry.model_name}, {entry.n_rows} rows)")


@cli.group()
def store() -> None:
    """Inspect a feature store."""


def _open_store(path: str):
    from stc_gpu.store import FeatureStore

    try:
        return FeatureStore.open(path)
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from None


def _mib(n_bytes: int) -> str:
    return f"{n_bytes / 2 ** 20:,.1f} MiB"


@store.command("ls")
@click.argument("path", metavar="[PATH]", required=False, type=click.Path(), cls=HiddenArgument)
@shared("store")
def store_ls(path, store):
    """List the entries of the --store."""
    path = resolved("store", one_of("--store", store, "PATH", path))
    infos = _open_store(path).entries()
    if not infos:
        click.echo(f"{path}: no entries")
        return
    click.echo(f"{'entry':<33}  {'model':<24}  {'rows':>9}  {'blocks':>9}  {'size':>12}  source")
    for i in infos:
        blocks = f"{i.blocks_done}/{i.n_blocks}"
        state = "" if i.complete else "  (incomplete: rerun extract to resume)"
        if i.blocks_damaged:
            state = f"  ({i.blocks_damaged} damaged blocks: rerun extract to rewrite them)"
        click.echo(f"{i.key:<33}  {i.model_name[:24]:<24}  {i.n_rows:>9,}  {blocks:>9}  "
                   f"{_mib(i.size_bytes):>12}  {i.source or '?'}{state}")


@store.command("info")
@click.argument("args", metavar="[PATH [ENTRY]]", nargs=-1, cls=HiddenArgument)
@shared("store")
@click.option("--entry", "entry_key", help="Fingerprint prefix of the entry (optional if the "
                                           "store holds one).")
def store_info(args, store, entry_key):
    """Show the manifest of one entry of the --store."""
    import json

    if len(args) > 2:
        raise click.UsageError(f"unexpected arguments {' '.join(args[2:])!r}")
    path = resolved("store", one_of("--store", store, "PATH", args[0] if args else None))
    entry_key = one_of("--entry", entry_key, "ENTRY", args[1] if len(args) > 1 else None)
    try:
        entry = _open_store(path).entry(entry_key)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    meta = entry.metadata
    done, damaged = entry.block_states()
    lines = [("entry", entry.key), ("model fingerprint", entry.model_fingerprint),
             ("dataset fingerprint", entry.dataset_fingerprint),
             ("source", f"{meta.get('source')} (column {meta.get('text_column')!r})"),
             ("rows", f"{entry.n_rows:,} in {entry.n_blocks} blocks of {entry.block_rows}"),
             ("complete", f"{'yes' if done.all() else 'no'} ({int(done.sum())}/{done.size} blocks)"),
             *([("damaged", f"blocks {damaged}: marked done but chunks are missing; "
                            "rerun extract to rewrite them")] if damaged else []),
             ("size on disk", _mib(entry.size_bytes())),
             ("dtype", f"{entry.dtype}, compressor {meta.get('compressor')}"),
             ("pools", ", ".join(entry.pools))]
    lines += [(f"{kind} layers", f"{entry.layers(kind)} x {entry.units(kind)} units")
              for kind in entry.kinds]
    lines += [("created", meta.get("created")), ("code version", meta.get("code_version")),
              ("model", json.dumps(meta["model"], indent=2, sort_keys=True))]
    for name, value in lines:
        click.echo(f"{name + ':':<20} {value}")

# ------------------------------------------------------------------ run / predict / explain
def _default(name: str) -> str:
    """``[default: ...]`` of STCConfig field ``name``, for a help text."""
    return f"[default: {shown(field_default(name))}]"


@cli.command()
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="TOML file with run options (flat keys, as in STCConfig); CLI options override it.")
@shared("data", "text_column", "model", "revision", "store")
@click.option("--label-column", "label_columns", multiple=True,
              help=f"Label column; repeat for several tasks over the same texts "
                   f"{_default('label_columns')}.")
@click.option("--multi-label/--single-label", "multi_label", default=None,
              help="Each label column holds a set of labels per row (a list in Parquet/JSONL, or "
                   "text joined by --label-separator; empty: none applies): one binary STC per "
                   "label.")
@click.option("--label-separator",
              help=f"Separator of the labels in a multi-label text column "
                   f"{_default('label_separator')}.")
@click.option("--split-column", help="Optional column with train/validation/test values.")
@click.option("--out", type=click.Path(), help=f"Report folder {_default('out')}.")
@shared("device", "dtype")
@click.option("--backend", type=click.Choice(BACKENDS),
              help=f"Probe solver backend {_default('backend')}.")
@shared("kinds", "pools", "max_layer", "max_length", "token_budget", "block_rows")
@click.option("--metric", type=click.Choice(METRICS),
              help=f"Validation metric for every selection {_default('metric')}.")
@click.option("--multiclass", type=click.Choice(MULTICLASS_MODES),
              help=f"3+ classes: one-vs-rest binary probes (fast) or one softmax "
                   f"{_default('multiclass')}.")
@click.option("--C-grid", "C_grid",
              help=f"Comma list of L1 strengths in scikit-learn C units {_default('C_grid')}.")
@click.option("--eta-grid",
              help=f"Comma list of η in (0, 1] {_default('eta_grid')}: the paper's, then 0.6 and "
                   "0.8 as its reference code.")
@click.option("--combine-kinds/--no-combine-kinds", default=None,
              help="Also aggregate hidden and ffn neurons together (beyond the paper).")
@shared("max_texts")
@click.option("--seed", type=int, help=f"Seed of the train/validation/test split {_default('seed')}.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Run the fits on a local Dask cluster of N worker processes.")
@click.option("--scheduler", help="Run the fits on an existing Dask cluster (tcp://host:8786).")
@shared("quiet")
def run(config_file, quiet, label_columns, C_grid, eta_grid, **options):
    """Extract (reused when stored) -> probe -> sparsify -> aggregate -> report.

    Without --data: the built-in demo, all-MiniLM-L6-v2 on Rotten Tomatoes snippets (the first
    few thousand unless --max-texts).
    """
    from stc_gpu.config import STCConfig
    from stc_gpu import pipeline

    overrides = {k: v for k, v in options.items() if v is not None}
    if label_columns:
        overrides["label_columns"] = list(label_columns)
    for name, value in (("C_grid", C_grid), ("eta_grid", eta_grid)):
        if value is not None:
            overrides[name] = comma_list(value, "--" + name.replace("_", "-"), float)
    try:
        config = (STCConfig.from_toml(config_file, **overrides) if config_file
                  else STCConfig.from_dict(overrides))
        if config.data is None and config.max_texts is None:
            config.max_texts = DEMO_MAX_TEXTS
        results = pipeline.run(config, show_progress=not quiet)
    except (ValueError, FileNotFoundError, KeyError) as err:
        raise click.ClickException(str(err)) from err
    for task, res in results.items():
        click.echo(f"\n[{task}]")
        click.echo(_summary_table(res))
        click.echo(f"report: {res['report']}")
    click.echo(f"\nreport folder: {config.out}")


#: The built-in demo uses this many RT snippets so it finishes in minutes on 2 CPU cores.
DEMO_MAX_TEXTS = 3000


def _summary_table(results: dict) -> str:
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


@cli.command()
@click.argument("classifier", type=click.Path(exists=True, file_okay=False))
@click.argument("texts", nargs=-1)
@click.option("--file", "texts_file", type=click.Path(exists=True, dir_okay=False),
              help="Read texts from a file, one per line.")
@shared("data", "text_column", "device")
@click.option("--proba", is_flag=True, help="Print class probabilities too.")
def predict(classifier, texts, texts_file, data, text_column, device, proba):
    """Classify TEXTS (or those of --file or --data) with a saved CLASSIFIER (the `classifier/`
    folder of a run).

    Prints one line per text: its class (a multi-label classifier: its labels joined by the
    training's label separator, empty when none applies), the probabilities with --proba, and the
    text, separated by tabs.
    """
    from stc_gpu.stc.multilabel import MultiLabelSTC, load_classifier

    texts = _gather_texts(texts, texts_file, data, text_column)
    try:
        clf = load_classifier(classifier, device=device)
        labels, probs = clf.predict_with_proba(texts) if proba else (clf.predict(texts), None)
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    if isinstance(clf, MultiLabelSTC):
        labels = [clf.config.label_separator.join(found) for found in labels]
    for i, (text, label) in enumerate(zip(texts, labels)):
        extra = ("\t" + " ".join(f"{c}={p:.3f}" for c, p in zip(clf.classes_, probs[i]))
                 if probs is not None else "")
        click.echo(f"{label}{extra}\t{text}")


@cli.command()
@click.argument("classifier", type=click.Path(exists=True, file_okay=False))
@click.argument("texts", nargs=-1)
@click.option("--file", "texts_file", type=click.Path(exists=True, dir_okay=False),
              help="Read texts from a file, one per line.")
@shared("data", "text_column")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default="explain.html",
              show_default=True, help="HTML file to write.")
@shared("device")
@click.option("--class", "target",
              help="Explain this class [default: each text's predicted class].")
@click.option("--method", type=click.Choice(["attribution", "tokenwise", "both"]), default="both",
              show_default=True,
              help="attribution: each token's exact share of the logit; tokenwise: each token "
                   "through the classifier on its own (paper §5.3).")
def explain(classifier, texts, texts_file, data, text_column, out_file, device, target, method):
    """Token-level explanations of CLASSIFIER's predictions on TEXTS (or those of --file or
    --data), as an HTML page.

    The exact attribution splits the logit of one class (the predicted one, or --class) into one
    share per token plus the intercept (special tokens included, marked); the token-wise view
    (paper §5.3) colours each token by the probability the classifier gives it on its own. A
    multi-label classifier is explained one label at a time, by that label's classifier folder
    (CLASSIFIER/labels/<label>).
    """
    from stc_gpu.report.heatmap import explanations_html
    from stc_gpu.stc.classifier import STCClassifier

    texts = _gather_texts(texts, texts_file, data, text_column)
    try:
        _refuse_multi_label(classifier, "explain")
        clf = STCClassifier.load(classifier, device=device)
        if target is not None:
            clf.class_index(target)  # an unknown class fails before the model loads
        explained = clf.explain(texts, target=target)
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    headings = [f"predicted: {e.predicted}" for e in explained]
    Path(out_file).write_text(explanations_html(explained, [str(c) for c in clf.classes_],
                                                headings, method=method))
    if method != "tokenwise":
        for e, text in zip(explained, texts):
            top = ", ".join(f"{token} {share:+.2f}" for token, share in e.largest())
            click.echo(f"{e.predicted}\tlogit({e.target}) {e.logit:+.2f} = intercept "
                       f"{e.intercept:+.2f} + tokens {e.shares.sum():+.2f}\t{top}\t{text}")
    click.echo(f"wrote {out_file}")


def _refuse_multi_label(classifier: str, command: str) -> None:
    """ValueError when ``classifier`` is a saved multi-label classifier, naming the label folder
    that ``command`` takes instead."""
    from stc_gpu.stc.multilabel import label_folders, saved_labels

    labels = saved_labels(classifier)
    if labels is not None:
        example = Path(classifier) / "labels" / label_folders(labels)[0]
        raise ValueError(f"{classifier} is a multi-label classifier: {command} one label at a "
                         f"time with its classifier folder, e.g. {example}")


@cli.command("export")
@click.argument("classifier", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="New folder for the export (must not exist or be empty).")
def export(classifier, out_dir):
    """Export a saved CLASSIFIER as ONNX + tokenizer + model card, served by onnxruntime alone
    (a multi-label classifier: one label's folder, CLASSIFIER/labels/<label>)."""
    import json

    from stc_gpu.export import runtime
    from stc_gpu.export.writer import export_classifier

    try:
        _refuse_multi_label(classifier, "export")
        out = export_classifier(classifier, out_dir)
    except (ValueError, FileNotFoundError, ImportError) as err:
        raise click.ClickException(str(err)) from None
    serving = json.loads((out / runtime.SERVING).read_text())
    click.echo(f"wrote {out}: blocks 0..{serving['n_blocks'] - 1} of {serving['n_layers']}, "
               f"{serving['n_features']} neurons ({serving['pool']}), model.onnx "
               f"{_mib((out / runtime.MODEL).stat().st_size)}; onnxruntime vs torch: probabilities "
               f"within {serving['check']['max_probability_difference']:.1e}")
    click.echo("serve it with stc_gpu.export.runtime.ExportedClassifier (onnxruntime, tokenizers, "
               "numpy)")


def _gather_texts(texts, texts_file, data, text_column) -> list[str]:
    """The texts given as arguments, then those of ``texts_file`` (one per line), then those of
    the ``data`` set's text column."""
    from stc_gpu.data.readers import iter_column

    texts = list(texts)
    if texts_file:
        with open(texts_file, encoding="utf-8") as f:
            texts += [line.rstrip("\n") for line in f if line.strip()]
    if data:
        try:
            texts += [t for batch in iter_column(data, resolved("text_column", text_column))
                      for t in batch]
        except (ValueError, FileNotFoundError) as err:
            raise click.ClickException(str(err)) from None
    if not texts:
        raise click.UsageError("give texts as arguments, with --file or with --data")
    return texts

@cli.group()
def bench() -> None:
    """The paper's cost tables and the benchmark suite."""


@bench.command("tables")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every cell (ours, the paper's, relative difference) as JSON.")
def bench_tables(json_path: Path | None) -> None:
    """Print the paper's Tables 5 and 6 recomputed, each cell beside the paper's figure."""
    import json

    from stc_gpu.cost import format_paper_tables, paper_tables

    tables = paper_tables()
    click.echo(format_paper_tables(tables))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(tables, indent=2) + "\n")
        click.echo(f"wrote {json_path}")


@bench.command("run")
@click.option("--quick", is_flag=True, help="Small sizes: minutes on 2 CPU cores.")
@shared("device")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("bench_out"), show_default=True, help="Folder for JSON and report.md.")
@click.option("--only", multiple=True, help="Run only this benchmark (repeatable).")
@click.option("--timeout", "timeout_s", type=float, default=3600.0, show_default=True,
              help="Seconds per benchmark.")
@click.option("--budget", "budget_s", type=float, help="Seconds for all benchmarks together.")
def bench_run(quick: bool, device: str | None, out_dir: Path, only: tuple[str, ...], timeout_s: float,
              budget_s: float | None) -> None:
    """Run every benchmark in benchmarks/ and write JSON plus a Markdown report (all on the
    --device)."""
    from stc_gpu.config import STCConfig
    from stc_gpu.stc.fit_options import fit_device

    run_all = _benchmark_runner()
    device = fit_device(STCConfig(device=device))
    try:
        records = run_all(quick=quick, device=device, out_dir=out_dir, only=list(only) or None,
                          timeout_s=timeout_s, budget_s=budget_s)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--only") from None
    click.echo(f"report: {out_dir / 'report.md'}")
    failed = [r["name"] for r in records if r["status"] != "ok"]
    if failed:
        raise click.ClickException(f"not ok: {', '.join(failed)} (see {out_dir / 'report.md'})")


def _benchmark_runner():
    """``benchmarks.__main__.run_all`` from the source checkout (benchmarks/ is not installed)."""
    import sys

    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "benchmarks" / "__main__.py").exists() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    try:
        from benchmarks.__main__ import run_all
    except ImportError as err:
        raise click.ClickException(
            f"the benchmarks live in the source checkout's benchmarks/ folder ({err}); "
            "run from a clone of stc-gpu") from None
    return run_all


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
