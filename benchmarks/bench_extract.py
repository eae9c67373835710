"""Extraction speed: ``Extractor.extract`` against a bare forward pass over the same batches.

CPU (default): real RT snippets (the bundled demo file) with all-MiniLM-L6-v2, fp32.
GPU (``--gpu``): fp16 random-weight GPT-2-small and GPT-2-XL-sized models built from configs, with
the torch and the fused Triton pooling backends.

Reports time ratio (target <= 1.15), texts/s, tokens/s, padding ratio with length-sorted buckets
(target <= 1.05) and in random order, and bytes per stored row. Prints a table; ``--json PATH``
writes the numbers (the :mod:`benchmarks` convention, plus ``meta``; ``--quick``/``--device`` as
every benchmark has them).

    python -m benchmarks.bench_extract --texts 2000 --json bench_extract_cpu.json
    python -m benchmarks.bench_extract --gpu --texts 20000 --json bench_extract_gpu.json
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from stc_gpu.extract import Extractor
from stc_gpu.extract.batching import pad_batch, tokenize

RT_SNIPPETS = Path(__file__).parents[1] / "stc_gpu" / "demo" / "rt_snippets.csv.gz"


def _load_texts(n: int) -> list[str]:
    import pandas as pd

    return pd.read_csv(RT_SNIPPETS)["text"].astype(str).tolist()[:n]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _random_order_padding(lengths: np.ndarray, token_budget: int, seed: int = 0) -> float:
    """Padding ratio of budget-filling batches taken in a random order (no sorting)."""
    order = np.random.default_rng(seed).permutation(lengths.size)
    slots, start = 0, 0
    while start < order.size:
        end, longest = start, 0
        while end < order.size and (end - start + 1) * max(longest, lengths[order[end]]) <= token_budget:
            longest = max(longest, lengths[order[end]])
            end += 1
        end = max(end, start + 1)
        slots += (end - start) * int(lengths[order[start:end]].max())
        start = end
    return slots / int(lengths.sum())


def _bare_forward_seconds(extractor: Extractor, texts: list[str]) -> float:
    """Tokenise, pad and run the whole model on the extractor's batches, without hooks."""
    _sync(extractor.device)
    started = time.perf_counter()
    tokenized = tokenize(extractor.tokenizer, texts, extractor.max_length)
    with torch.inference_mode():
        for rows in extractor._plan(tokenized):
            batch = pad_batch(tokenized.ids, rows, extractor._pad_id, extractor.padding_side)
            inputs = extractor._to_device(batch)
            if extractor.adapter.decoder:
                inputs["use_cache"] = False
            extractor.adapter.base(**inputs)
    _sync(extractor.device)
    return time.perf_counter() - started


def _extract_seconds(extractor: Extractor, texts: list[str]):
    _sync(extractor.device)
    started = time.perf_counter()
    block = extractor.extract(texts)
    _sync(extractor.device)
    return time.perf_counter() - started, block


def measure(label: str, extractor: Extractor, texts: list[str], repeat: int) -> dict:
    """One row of the table: best of ``repeat`` runs of each, alternating."""
    _extract_seconds(extractor, texts[:64])  # warm-up (allocator, kernels, thread pools)
    _bare_forward_seconds(extractor, texts[:64])
    bare, hooked, block = [], [], None
    for _ in range(repeat):
        bare.append(_bare_forward_seconds(extractor, texts))
        seconds, block = _extract_seconds(extractor, texts)
        hooked.append(seconds)
    lengths = tokenize(extractor.tokenizer, texts, extractor.max_length).lengths
    bytes_per_row = sum(a.shape[0] * a.shape[2] * a.itemsize for a in block.features.values())
    return {
        "label": label,
        "device": str(extractor.device),
        "dtype": str(extractor.dtype).removeprefix("torch."),
        "pool_backend": extractor.pool_backend,
        "n_texts": len(texts),
        "n_tokens": block.n_tokens,
        "extract_s": min(hooked),
        "bare_forward_s": min(bare),
        "time_ratio": min(hooked) / min(bare),
        "extract_texts_per_s": len(texts) / min(hooked),
        "extract_tokens_per_s": block.n_tokens / min(hooked),
        "bare_tokens_per_s": block.n_tokens / min(bare),
        "padding_ratio_sorted": block.padding_ratio,
        "padding_ratio_random": _random_order_padding(lengths, extractor.token_budget),
        "bytes_per_row": bytes_per_row,
        "n_truncated": block.n_truncated,
    }


def cpu_rows(n_texts: int, repeat: int, token_budget: int) -> list[dict]:
    texts = _load_texts(n_texts)
    extractor = Extractor.from_pretrained("all-MiniLM-L6-v2", device="cpu",
                                          token_budget=token_budget)
    return [measure("all-MiniLM-L6-v2 fp32", extractor, texts, repeat)]


def gpu_rows(n_texts: int, repeat: int, token_budget: int) -> list[dict]:
    from transformers import GPT2Config, GPT2Model

    from stc_gpu.extract.kernels import fused_pool_available
    from stc_gpu.models.synthetic import simple_tokenizer

    if not torch.cuda.is_available():
        raise SystemExit("--gpu needs CUDA")
    texts = _load_texts(n_texts)
    tokenizer = simple_tokenizer(texts, vocab_size=50257, decoder=True)
    tokenizer.model_max_length = 1024
    sizes = {"gpt2-small": dict(n_layer=12, n_embd=768, n_head=12),
             "gpt2-xl": dict(n_layer=48, n_embd=1600, n_head=25)}
    backends = ["torch"] + (["triton"] if fused_pool_available("cuda") else [])
    rows = []
    for name, size in sizes.items():
        torch.manual_seed(0)
        config = GPT2Config(vocab_size=50257, n_positions=1024, **size)
        with torch.device("cuda"):  # random init on the GPU: seconds, not minutes, for XL
            model = GPT2Model(config).to(dtype=torch.float16)
        for backend in backends:
            extractor = Extractor(model, tokenizer, device="cuda", pool_backend=backend,
                                  token_budget=token_budget, max_length=128)
            rows.append(measure(f"{name} fp16 random", extractor, texts, repeat))
        del model, extractor
        torch.cuda.empty_cache()
    return rows


def _print_table(rows: list[dict]) -> None:
    columns = [("label", "model", "{}"), ("pool_backend", "pool", "{}"),
               ("time_ratio", "ratio", "{:.3f}"), ("extract_texts_per_s", "texts/s", "{:,.0f}"),
               ("extract_tokens_per_s", "tok/s", "{:,.0f}"),
               ("bare_tokens_per_s", "bare tok/s", "{:,.0f}"),
               ("padding_ratio_sorted", "pad sorted", "{:.3f}"),
               ("padding_ratio_random", "pad random", "{:.3f}"),
               ("bytes_per_row", "bytes/row", "{:,}")]
    cells = [[fmt.format(row[key]) for key, _, fmt in columns] for row in rows]
    widths = [max(len(head), *(len(c[i]) for c in cells)) for i, (_, head, _) in enumerate(columns)]
    print("  ".join(head.rjust(w) for (_, head, _), w in zip(columns, widths)))
    for c in cells:
        print("  ".join(v.rjust(w) for v, w in zip(c, widths)))


def run(quick: bool, device: str, *, n_texts: int | None = None, repeat: int = 1,
        token_budget: int | None = None) -> dict:
    """The benchmark convention (:mod:`benchmarks`): CPU rows, or GPU rows on ``cuda``."""
    gpu = device.startswith("cuda")
    budget = token_budget or (32768 if gpu else 8192)
    n_texts = n_texts or ((2000 if quick else 20000) if gpu else (300 if quick else 2000))
    rows = (gpu_rows if gpu else cpu_rows)(n_texts, repeat, budget)
    notes = [f"{n_texts} RT snippets, token budget {budget}, best of {repeat}, "
             f"{torch.get_num_threads()} torch threads; targets: time_ratio <= 1.15, "
             "padding_ratio_sorted <= 1.05"]
    return {"name": "extract", "title": "Extraction vs a bare forward pass over the same batches",
            "rows": rows, "notes": notes}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 texts on CPU, 2000 on GPU")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU rows")
    parser.add_argument("--gpu", action="store_true", help="the same as --device cuda")
    parser.add_argument("--texts", type=int, default=None, help="RT snippets to extract")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is kept")
    parser.add_argument("--token-budget", type=int, default=None,
                        help="rows * padded length per batch (default 8192 CPU, 32768 GPU)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.quick, "cuda" if args.gpu else args.device, n_texts=args.texts,
                 repeat=args.repeat, token_budget=args.token_budget)
    _print_table(result["rows"])
    if args.json:
        result["meta"] = {"machine": platform.platform(), "torch": torch.__version__,
                          "threads": torch.get_num_threads()}
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
