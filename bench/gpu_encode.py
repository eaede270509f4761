"""Throughput of the default embedding model on a GPU (or any torch device), batch by batch.

Usage:
    .venv/bin/python bench/gpu_encode.py --export DIR [--tickets 20000]
        writes DIR/texts.txt (prepared demo texts, one per line) and DIR/model/ (the shipped
        all-MiniLM-L6-v2 folder, weights saved in float16 to halve what travels)
    python3 bench/gpu_encode.py --from DIR [--device cuda] [--batch-sizes 64 256 1024]
        on the GPU machine: encodes the texts with sentence-transformers at each batch size, in
        float32 and float16, and prints texts/s (the model is loaded as float32 for the float32
        rows, so only its stored weights were rounded to float16).

It needs only torch and sentence-transformers on the machine that measures: the pipeline's
embed stage passes `[models] device` and `batch_size` to the same `SentenceTransformer.encode`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Not persona_mining.environment: the measuring machine may have only torch and
# sentence-transformers; and tokenizers may use every core here.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


def export(out: Path, n_tickets: int) -> None:
    """Write prepared demo texts and a float16 copy of the shipped model into `out`."""
    import shutil
    import tempfile

    import torch
    from sentence_transformers import SentenceTransformer

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from persona_mining.demo.generate import generate_demo
    from persona_mining.text.cleaning import clean_text
    from persona_mining.text.embed import resolve_model_path

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        demo = generate_demo(Path(tmp), seed=7, n_customers=max(1, round(n_tickets / 3.6)))
        import duckdb

        rows = duckdb.sql(
            f"SELECT subject, body FROM read_csv('{demo.tickets_path}', all_varchar=true)"
        ).fetchall()
    texts = [" ".join(f"{s or ''}. {clean_text(b or '')}".split()) for s, b in rows]
    (out / "texts.txt").write_text("\n".join(texts), encoding="utf-8")
    source = resolve_model_path("all-MiniLM-L6-v2")
    model_dir = out / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model = SentenceTransformer(str(source), device="cpu")
    model.to(torch.float16)
    model.save(str(model_dir), safe_serialization=True)
    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    print(f"{len(texts)} texts and the model ({size / 2**20:.0f} MiB) written to {out}")


def measure(source: Path, device: str, batch_sizes: list[int]) -> None:
    """Encode the exported texts at each batch size and precision; print texts/s."""
    import torch
    from sentence_transformers import SentenceTransformer

    texts = (source / "texts.txt").read_text(encoding="utf-8").splitlines()
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else device
    print(f"torch {torch.__version__}, device {device} ({name}), {len(texts)} texts")
    for dtype in (torch.float32, torch.float16):
        model = SentenceTransformer(str(source / "model"), device=device)
        model.to(dtype)
        model.encode(texts[:512], batch_size=64)  # warm-up: kernels, allocator
        for batch_size in batch_sizes:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            print(
                f"  {str(dtype).removeprefix('torch.'):<8} batch {batch_size:5d}: "
                f"{len(texts) / seconds:9.0f} texts/s ({seconds:.2f} s, {vectors.shape})",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--export", type=Path, help="write texts and model to this folder")
    parser.add_argument("--from", dest="source", type=Path, help="measure from this folder")
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 1024])
    args = parser.parse_args()
    if args.export:
        export(args.export, args.tickets)
    if args.source:
        measure(args.source, args.device, args.batch_sizes)


if __name__ == "__main__":
    main()
