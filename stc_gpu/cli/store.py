"""``stc-gpu store ls`` and ``stc-gpu store info``: what a feature store holds."""
from __future__ import annotations

import click

from stc_gpu.cli.options import HiddenArgument, mib, one_of, resolved, shared


@click.group()
def store() -> None:
    """Inspect a feature store."""


def _open_store(path: str):
    from stc_gpu.store import FeatureStore

    try:
        return FeatureStore.open(path)
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from None


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
                   f"{mib(i.size_bytes):>12}  {i.source or '?'}{state}")


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
             ("size on disk", mib(entry.size_bytes())),
             ("dtype", f"{entry.dtype}, compressor {meta.get('compressor')}"),
             ("pools", ", ".join(entry.pools))]
    lines += [(f"{kind} layers", f"{entry.layers(kind)} x {entry.units(kind)} units")
              for kind in entry.kinds]
    lines += [("created", meta.get("created")), ("code version", meta.get("code_version")),
              ("model", json.dumps(meta["model"], indent=2, sort_keys=True))]
    for name, value in lines:
        click.echo(f"{name + ':':<20} {value}")
