"""The ``stc-gpu`` command line: one click group, one subcommand per stage."""
from __future__ import annotations

from pathlib import Path

import click

from stc_gpu import __version__
from stc_gpu.models.loading import DEFAULT_MODEL


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stc-gpu")
def cli() -> None:
    """Sparsify-then-Classify: text classifiers from a frozen language model's neurons."""


def _comma_list(value: str | None, option: str, cast=str) -> list | None:
    if value is None:
        return None
    try:
        items = [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected a comma-separated list, got {value!r}",
                                 param_hint=option) from None
    if not items:
        raise click.BadParameter("must not be empty", param_hint=option)
    return items


@cli.command()
@click.argument("data", type=click.Path(exists=True))
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Model name (hub or packaged) or local folder.")
@click.option("--revision", default=None, help="Model revision (hub models).")
@click.option("--store", "store_path", required=True, type=click.Path(file_okay=False),
              help="Feature store folder (created if absent).")
@click.option("--text-column", default="text", show_default=True)
@click.option("--layers", default=None, help="Comma-separated layer indices, e.g. 0,1,2.")
@click.option("--max-layer", type=int, default=None, help="Capture layers 0..N.")
@click.option("--kinds", default="hidden,ffn", show_default=True)
@click.option("--pools", default="mean,max,single", show_default=True)
@click.option("--max-length", type=int, default=None,
              help="Tokens per text [default: the model's own limit, e.g. 1024 for GPT-2].")
@click.option("--device", default=None, help="cuda, cuda:1, cpu (default: best available).")
@click.option("--dtype", default=None, help="Compute dtype, e.g. float16, bfloat16, float32.")
@click.option("--block-rows", type=click.IntRange(min=1), default=4096, show_default=True,
              help="Rows per stored block (and chunk).")
@click.option("--token-budget", type=click.IntRange(min=1), default=None,
              help="Padded tokens per forward batch [default: 8192, or --max-length if larger].")
@click.option("--max-texts", type=click.IntRange(min=1), default=None,
              help="Use only the first N texts.")
@click.option("--compressor", type=click.Choice(["none", "zstd"]), default="none",
              show_default=True, help="Compression of a new entry's feature arrays.")
@click.option("--wait/--no-wait", default=False, show_default=True,
              help="If another process is writing the same entry, wait for it instead of failing.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def extract(data, model, revision, store_path, text_column, layers, max_layer, kinds, pools,
            max_length, device, dtype, block_rows, token_budget, max_texts, compressor, wait,
            quiet):
    """Extract pooled hidden/FFN features of DATA's texts into a feature store.

    DATA is a CSV/TSV, JSONL or Parquet file (optionally compressed) or a `datasets`
    save_to_disk folder. Rerunning resumes an interrupted extraction; an existing one is reused.
    Under `torchrun --nproc-per-node N stc-gpu extract ...` the N processes (one GPU each)
    share the blocks of one entry and rank 0 prints the summary of all of them.
    """
    from stc_gpu.distributed.torchrun import (RankFailedError, distributed_context,
                                              extract_distributed)
    from stc_gpu.extract.extractor import Extractor
    from stc_gpu.store import StoreLockedError

    if layers is not None and max_layer is not None:
        raise click.UsageError("give --layers or --max-layer, not both")
    try:
        with distributed_context(device) as ctx:
            extractor = Extractor.from_pretrained(
                model, revision=revision, kinds=tuple(_comma_list(kinds, "--kinds")),
                pools=tuple(_comma_list(pools, "--pools")),
                layers=_comma_list(layers, "--layers", int), max_layer=max_layer,
                max_length=max_length, device=ctx.device if ctx.distributed else device,
                dtype=dtype, token_budget=token_budget)
            entry, summary = extract_distributed(
                data, extractor, store_path, ctx, text_column=text_column,
                block_rows=block_rows, max_texts=max_texts, progress=not quiet and ctx.is_main,
                wait=wait, compressor=compressor)
    except (ValueError, FileNotFoundError, StoreLockedError, RankFailedError) as err:
        raise click.ClickException(str(err)) from None
    if not ctx.is_main:
        return
    click.echo(summary.format())
    click.echo(f"store {store_path}  entry {entry.key}  ({entry.model_name}, {entry.n_rows} rows)")


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
@click.argument("path", type=click.Path())
def store_ls(path):
    """List the entries of the store at PATH."""
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
@click.argument("path", type=click.Path())
@click.argument("entry_key", metavar="[ENTRY]", required=False)
def store_info(path, entry_key):
    """Show the manifest of one entry (ENTRY: a fingerprint prefix; optional if only one)."""
    import json

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
@cli.command()
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="TOML file with run options (flat keys, as in STCConfig); CLI options override it.")
@click.option("--model", help="Hugging Face model name or folder [default: all-MiniLM-L6-v2].")
@click.option("--data", type=click.Path(exists=True),
              help="CSV / JSONL / Parquet file or a saved `datasets` folder [default: bundled RT snippets].")
@click.option("--text-column", help="Column holding the texts [default: text].")
@click.option("--label-column", "label_columns", multiple=True,
              help="Label column; repeat for several tasks over the same texts [default: label].")
@click.option("--split-column", help="Optional column with train/validation/test values.")
@click.option("--store", type=click.Path(), help="Feature store folder [default: stc_store].")
@click.option("--out", type=click.Path(), help="Report folder [default: stc_runs/latest].")
@click.option("--device", help="cpu, cuda or cuda:N [default: cuda if available].")
@click.option("--backend", type=click.Choice(["auto", "torch", "cuml", "sklearn"]),
              help="Probe solver backend [default: auto].")
@click.option("--kinds", help="Comma list of hidden,ffn.")
@click.option("--pools", help="Comma list of mean,max,single.")
@click.option("--metric", type=click.Choice(["accuracy", "macro_f1"]),
              help="Validation metric for every selection [default: accuracy].")
@click.option("--multiclass", type=click.Choice(["ovr", "multinomial"]),
              help="3+ classes: one-vs-rest binary probes (fast) or one softmax [default: ovr].")
@click.option("--C-grid", "C_grid",
              help="Comma list of L1 strengths in scikit-learn C units [default: 0.1,0.2,1,10,100].")
@click.option("--eta-grid",
              help="Comma list of η in (0, 1] [default: the paper's 0.001,0.01,0.05,0.1,0.2,0.3,"
                   "0.4,0.5, then 0.6,0.8 as its reference code].")
@click.option("--combine-kinds/--no-combine-kinds", default=None,
              help="Also aggregate hidden and ffn neurons together (beyond the paper).")
@click.option("--max-texts", type=int, help="Use only the first N rows.")
@click.option("--seed", type=int, help="Seed of the train/validation/test split [default: 0].")
@click.option("--workers", type=click.IntRange(min=1),
              help="Run the fits on a local Dask cluster of N worker processes.")
@click.option("--scheduler", help="Run the fits on an existing Dask cluster (tcp://host:8786).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def run(config_file, quiet, label_columns, kinds, pools, C_grid, eta_grid, **options):
    """Extract (reused when stored) -> probe -> sparsify -> aggregate -> report.

    Without options: the built-in demo, all-MiniLM-L6-v2 on Rotten Tomatoes snippets.
    """
    from stc_gpu.config import STCConfig
    from stc_gpu.stc import pipeline

    overrides = {k: v for k, v in options.items() if v is not None}
    if label_columns:
        overrides["label_columns"] = list(label_columns)
    if kinds:
        overrides["kinds"] = _comma_list(kinds, "--kinds")
    if pools:
        overrides["pools"] = _comma_list(pools, "--pools")
    for name, value in (("C_grid", C_grid), ("eta_grid", eta_grid)):
        if value is not None:
            overrides[name] = _comma_list(value, "--" + name.replace("_", "-"), float)
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

    sel = results["selection"]
    lines = [f"{'':<11} {'test acc':>9} {'test F1':>9}  configuration"]
    for name, _ in APPROACHES:
        if name in sel:
            s = sel[name]
            conf = ", ".join(f"{k}={s[k]}" for k in ("kind", "pool", "layer", "normalize", "eta",
                                                     "L_temp", "C", "n_features") if k in s)
            if name == "own_pooling" and "normalize" not in s:  # the rule fell back
                conf = "the Embedding: " + s["rule"].rsplit(":", 1)[0]
            label = name.replace("_pooling", " pool")
            lines.append(f"{label:<11} {s['test_acc']:>9.4f} {s['test_f1']:>9.4f}  {conf}")
    if "truncation" in results:
        cut = results["truncation"]
        lines.append(f"truncated: {cut['truncated']:,} of {cut['texts']:,} texts at "
                     f"{cut['max_length']:,} tokens")
    return "\n".join(lines)


@cli.command()
@click.argument("classifier", type=click.Path(exists=True, file_okay=False))
@click.argument("texts", nargs=-1)
@click.option("--file", "texts_file", type=click.Path(exists=True, dir_okay=False),
              help="Read texts from a file, one per line.")
@click.option("--device", help="cpu, cuda or cuda:N.")
@click.option("--proba", is_flag=True, help="Print class probabilities too.")
def predict(classifier, texts, texts_file, device, proba):
    """Classify TEXTS with a saved CLASSIFIER (the `classifier/` folder of a run)."""
    from stc_gpu.stc.classifier import STCClassifier

    texts = _gather_texts(texts, texts_file)
    try:
        clf = STCClassifier.load(classifier, device=device)
        labels, probs = clf.predict_with_proba(texts) if proba else (clf.predict(texts), None)
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    for i, (text, label) in enumerate(zip(texts, labels)):
        extra = ("\t" + " ".join(f"{c}={p:.3f}" for c, p in zip(clf.classes_, probs[i]))
                 if probs is not None else "")
        click.echo(f"{label}{extra}\t{text}")


@cli.command()
@click.argument("classifier", type=click.Path(exists=True, file_okay=False))
@click.argument("texts", nargs=-1)
@click.option("--file", "texts_file", type=click.Path(exists=True, dir_okay=False),
              help="Read texts from a file, one per line.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default="explain.html",
              show_default=True, help="HTML file to write.")
@click.option("--device", help="cpu, cuda or cuda:N.")
@click.option("--class", "target",
              help="Explain this class [default: each text's predicted class].")
@click.option("--method", type=click.Choice(["attribution", "tokenwise", "both"]), default="both",
              show_default=True,
              help="attribution: each token's exact share of the logit; tokenwise: each token "
                   "through the classifier on its own (paper §5.3).")
def explain(classifier, texts, texts_file, out_file, device, target, method):
    """Token-level explanations of CLASSIFIER's predictions on TEXTS, as an HTML page.

    The exact attribution splits the logit of one class (the predicted one, or --class) into one
    share per token plus the intercept (special tokens included, marked); the token-wise view
    (paper §5.3) colours each token by the probability the classifier gives it on its own.
    """
    from stc_gpu.report.heatmap import explanations_html
    from stc_gpu.stc.classifier import STCClassifier

    texts = _gather_texts(texts, texts_file)
    try:
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


@cli.command("export")
@click.argument("classifier", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="New folder for the export (must not exist or be empty).")
def export(classifier, out_dir):
    """Export a saved CLASSIFIER as ONNX + tokenizer + model card, served by onnxruntime alone."""
    import json

    from stc_gpu.export import runtime
    from stc_gpu.export.writer import export_classifier

    try:
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


def _gather_texts(texts, texts_file) -> list[str]:
    texts = list(texts)
    if texts_file:
        with open(texts_file, encoding="utf-8") as f:
            texts += [line.rstrip("\n") for line in f if line.strip()]
    if not texts:
        raise click.UsageError("give texts as arguments or with --file")
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
@click.option("--device", default="cpu", show_default=True, help="Torch device for every benchmark.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("bench_out"), show_default=True, help="Folder for JSON and report.md.")
@click.option("--only", multiple=True, help="Run only this benchmark (repeatable).")
@click.option("--timeout", "timeout_s", type=float, default=3600.0, show_default=True,
              help="Seconds per benchmark.")
@click.option("--budget", "budget_s", type=float, help="Seconds for all benchmarks together.")
def bench_run(quick: bool, device: str, out_dir: Path, only: tuple[str, ...], timeout_s: float,
              budget_s: float | None) -> None:
    """Run every benchmark in benchmarks/ and write JSON plus a Markdown report."""
    run_all = _benchmark_runner()
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
