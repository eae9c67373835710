"""The capture sites of an extraction: which layers of each kind (from ``layers`` / ``max_layer`` and
the model's depth), and the order in which a forward pass reaches them."""
from __future__ import annotations

from stc_gpu.vocabulary import FINAL


def site_rank(kind: str, layer: int) -> int:
    """Execution order of a site: hidden.l, ffn.l, hidden.l+1, ..., hidden.L, final.L."""
    return 2 * layer + (kind != "hidden")


def resolve_layers(layers, max_layer, kinds, n_layers: int) -> dict:
    """kind -> sorted layer indices; hidden in 0..L, ffn in 0..L-1, final at L only.

    ``layers`` and ``max_layer`` select the hidden and ffn layers; ``final`` (a kind of one site,
    after the last block) is always ``[L]``, so it cannot go with a ``max_layer`` below L.
    """
    if FINAL not in kinds:
        return _resolve_block_layers(layers, max_layer, kinds, n_layers)
    if max_layer is not None and max_layer < n_layers:
        raise ValueError(f"the final site follows the last block: it needs every block, not "
                         f"max_layer={max_layer} < {n_layers}")
    if isinstance(layers, dict):
        final = layers.get(FINAL, [n_layers])
        if [int(i) for i in final] != [n_layers]:
            raise ValueError(f"final layers must be [{n_layers}], got {list(final)}")
        layers = {k: v for k, v in layers.items() if k != FINAL}
    block_kinds = [k for k in kinds if k != FINAL]
    resolved = _resolve_block_layers(layers, max_layer, block_kinds, n_layers) if block_kinds else {}
    return {k: resolved[k] if k != FINAL else [n_layers] for k in kinds}


def _resolve_block_layers(layers, max_layer, kinds, n_layers: int) -> dict:
    """kind -> sorted layer indices for the hidden and ffn kinds."""
    limits = {"hidden": n_layers, "ffn": n_layers - 1}
    if layers is not None and max_layer is not None:
        raise ValueError("give either layers or max_layer, not both")
    if max_layer is not None:
        if not 0 <= max_layer <= n_layers:
            raise ValueError(f"max_layer must be in 0..{n_layers}, got {max_layer}")
        return {k: list(range(min(max_layer, limits[k]) + 1)) for k in kinds}
    if layers is None:
        return {k: list(range(limits[k] + 1)) for k in kinds}
    if not isinstance(layers, dict):
        layers = {k: layers for k in kinds}
    unknown = set(layers) - set(kinds)
    if unknown:
        raise ValueError(f"layers given for kinds {sorted(unknown)} that are not captured {kinds}")
    resolved = {}
    for kind in kinds:
        idx = sorted({int(i) for i in layers.get(kind, ())})
        bad = [i for i in idx if not 0 <= i <= limits[kind]]
        if bad:
            raise ValueError(f"{kind} layers must be in 0..{limits[kind]}, got {bad}")
        if not idx:
            raise ValueError(f"no layers selected for kind {kind!r}")
        resolved[kind] = idx
    return resolved
