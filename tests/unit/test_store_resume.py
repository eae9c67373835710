"""A REAL kill: SIGKILL a subprocess mid-extraction, resume, and get a byte-identical store."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from store_fake_extractor import FakeExtractor

from stc_gpu.extract.to_store import extract_to_store
from stc_gpu.store import FeatureStore, layout

N_TEXTS, BLOCK_ROWS = 150, 10  # 15 blocks
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

_SCRIPT = """
import sys
from store_fake_extractor import FakeExtractor
from stc_gpu.extract.to_store import extract_to_store
texts = [f"row {i}: " + "word " * (i % 9) for i in range(int(sys.argv[2]))]
extract_to_store(texts, FakeExtractor(delay=float(sys.argv[3])), sys.argv[1],
                 block_rows=int(sys.argv[4]), progress=False)
"""


def _texts():
    return [f"row {i}: " + "word " * (i % 9) for i in range(N_TEXTS)]


def _start(store: Path, delay: float) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]))
    return subprocess.Popen([sys.executable, "-c", _SCRIPT, str(store), str(N_TEXTS), str(delay),
                             str(BLOCK_ROWS)], env=env, stderr=subprocess.PIPE)


def _blocks_done(store: Path) -> int:
    return len(list(store.glob(f"*/*/{layout.DONE_ARRAY}/c/*")))


def _kill_after(store: Path, n_done: int, extra_s: float) -> int:
    """Run the extraction in a subprocess and SIGKILL it once ``n_done`` blocks are marked done."""
    proc = _start(store, delay=0.1)
    deadline = time.monotonic() + 60
    while _blocks_done(store) < n_done and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(extra_s)
    assert proc.poll() is None, f"the extraction ended before the kill: {proc.stderr.read()!r}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return _blocks_done(store)


def _chunk_bytes(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in store.rglob("*")
            if p.is_file() and "/c/" in str(p.relative_to(store))}


@pytest.mark.slow
def test_sigkill_mid_extraction_then_resume_is_byte_identical(tmp_path):
    reference = tmp_path / "reference"
    extract_to_store(_texts(), FakeExtractor(), reference, block_rows=BLOCK_ROWS, progress=False)

    store = tmp_path / "killed"
    offsets = [random.uniform(0, 0.1), random.uniform(0, 0.1)]  # any moment within a block
    done_first = _kill_after(store, n_done=3, extra_s=offsets[0])
    assert 3 <= done_first < N_TEXTS // BLOCK_ROWS, offsets
    done_second = _kill_after(store, n_done=done_first + 4, extra_s=offsets[1])
    assert done_first < done_second < N_TEXTS // BLOCK_ROWS, offsets
    entry = FeatureStore.open(store).entry()
    assert not entry.is_complete

    fx = FakeExtractor()
    entry, summary = extract_to_store(_texts(), fx, store, block_rows=BLOCK_ROWS, progress=False)
    assert entry.is_complete
    assert summary.blocks_already_done == done_second
    assert fx.calls == N_TEXTS // BLOCK_ROWS - done_second  # only the missing blocks recomputed
    got, want = _chunk_bytes(store), _chunk_bytes(reference)
    assert len(want) > 100 and got.keys() == want.keys()
    assert all(got[name] == want[name] for name in want), offsets
    assert not list(store.rglob("*.partial"))  # no torn temporary files left visible
