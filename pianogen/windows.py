"""Train/validation/test splits and ``tf.data`` windows made on the fly.

A *window* is ``seq_len`` consecutive token ids of one piece plus the id that follows it
(the target). Windows never cross piece boundaries. Instead of materialising an
``(N, seq_len, 1)`` float array as the paper's code did (200 MB at a million windows), a
split is held as one flat ``int32`` id array plus the ``int64`` start offsets of its valid
windows (:class:`Windows`); batches are gathered from it inside the ``tf.data`` pipeline.

Two split kinds (``SplitConfig.kind``):

- ``"piece"`` (default, honest): whole pieces go to train, validation or test, so the test
  windows come from music the model never saw. Needs at least 3 pieces.
- ``"window"`` (the paper's likely setting): every window of every piece is shuffled with
  the split seed and cut into test / validation / train. Test windows then overlap training
  windows, which flatters the scores; the book reports both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pianogen.config import RunConfig, SplitConfig, TrainConfig
from pianogen.errors import PianogenError

if TYPE_CHECKING:
    import tensorflow as tf

    from pianogen.vocab import Vocab

SPLITS = ("train", "validation", "test")
_CHUNK = 8  # batches gathered per tf.data map call
__all__ = [
    "SPLITS",
    "NotEnoughData",
    "Prepared",
    "Windows",
    "count_windows",
    "make_dataset",
    "prepare",
    "prepare_tokens",
    "split_pieces",
    "split_windows",
    "transposed_copies",
]


class NotEnoughData(PianogenError, ValueError):
    """An artist (or a split) is too small for the requested windows or split."""


def count_windows(seqs: Sequence[Sequence[int]], seq_len: int) -> int:
    """Number of (window, next) pairs: ``len(s) - seq_len`` for every sequence longer than it."""
    return int(sum(max(0, len(s) - seq_len) for s in seqs))


def _cut_sizes(n: int, split_config: SplitConfig) -> tuple[int, int]:
    """(n_test, n_validation) for ``n`` items: rounded fractions, each >= 1, train >= 1."""
    n_test = max(1, round(n * split_config.test_fraction))
    n_val = max(1, round(n * split_config.val_fraction))
    while n_test + n_val > n - 1 and (n_test > 1 or n_val > 1):
        if n_test >= n_val:
            n_test -= 1
        else:
            n_val -= 1
    return n_test, n_val


def split_pieces(
    n_pieces: int, split_config: SplitConfig, lengths: Sequence[int] | None = None
) -> dict[str, list[int]]:
    """Assign piece indices ``0..n_pieces-1`` to train / validation / test (sorted lists).

    The pieces are shuffled with ``split_config.seed``; test takes the first ones, then
    validation, then train. Without ``lengths`` the cut is by piece count; with ``lengths``
    (tokens per piece) each held-out split takes pieces until it holds its fraction of all
    tokens, so one long piece cannot leave training nearly empty. Every split gets at least
    one piece; a piece split therefore needs at least 3 pieces (ValueError otherwise).
    """
    n_pieces = int(n_pieces)
    if n_pieces < 3:
        raise NotEnoughData(
            f"a piece split needs at least 3 pieces (one each for train, validation and "
            f"test), got {n_pieces}; add pieces or use the window split (--split window)"
        )
    order = np.random.default_rng(split_config.seed).permutation(n_pieces)
    if lengths is None:
        n_test, n_val = _cut_sizes(n_pieces, split_config)
    else:
        if len(lengths) != n_pieces:
            raise ValueError(f"lengths has {len(lengths)} entries for {n_pieces} pieces")
        sizes = np.asarray(lengths, dtype=np.float64)[order]
        total = max(float(sizes.sum()), 1.0)
        n_test = _take_until(sizes, 0, total * split_config.test_fraction, reserve=2)
        n_val = _take_until(sizes, n_test, total * split_config.val_fraction, reserve=1)
    test = order[:n_test]
    val = order[n_test : n_test + n_val]
    train = order[n_test + n_val :]
    return {
        "train": sorted(map(int, train)),
        "validation": sorted(map(int, val)),
        "test": sorted(map(int, test)),
    }


def _take_until(sizes: np.ndarray, start: int, target: float, reserve: int) -> int:
    """How many items from ``start`` reach ``target`` total size (>= 1, leaving ``reserve``)."""
    available = len(sizes) - start - reserve
    taken, acc = 0, 0.0
    while taken < available and (taken == 0 or acc < target):
        acc += sizes[start + taken]
        taken += 1
    return max(1, taken)


def split_windows(n_windows: int, split_config: SplitConfig) -> dict[str, np.ndarray]:
    """Shuffle window indices ``0..n_windows-1`` with the split seed and cut them.

    Test takes the first ``test_fraction``, validation the next ``val_fraction``, train the
    rest (each non-empty when ``n_windows >= 3``). Returns sorted ``int64`` index arrays
    that together cover every window exactly once.
    """
    if n_windows < 3:
        raise NotEnoughData(
            f"a window split needs at least 3 windows (one per split), got {n_windows}"
        )
    order = np.random.default_rng(split_config.seed).permutation(n_windows)
    n_test, n_val = _cut_sizes(n_windows, split_config)
    parts = {
        "test": order[:n_test],
        "validation": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }
    return {name: np.sort(parts[name]).astype(np.int64) for name in SPLITS}


@dataclass(frozen=True)
class Windows:
    """The windows of one split: a flat id array and the start offsets of valid windows.

    Window ``i`` is ``flat[starts[i] : starts[i] + seq_len]`` and its target is
    ``flat[starts[i] + seq_len]``. ``flat_artists`` (a conditioned model's data) gives the
    artist id of every position of ``flat``; window ``i`` is then by artist
    ``flat_artists[starts[i]]`` and its batches carry it (:meth:`dataset`).
    """

    flat: np.ndarray
    starts: np.ndarray
    seq_len: int
    flat_artists: np.ndarray | None = None

    @classmethod
    def from_seqs(
        cls, seqs: Sequence[np.ndarray], seq_len: int, labels: Sequence[int] | None = None
    ) -> Windows:
        """Every window of every sequence (none crossing a sequence boundary); ``labels``:
        the artist id of each sequence (a conditioned model's windows)."""
        seqs = [np.asarray(s, dtype=np.int32) for s in seqs]
        flat = np.concatenate(seqs) if seqs else np.zeros(0, np.int32)
        flat_artists = None
        if labels is not None:
            if len(labels) != len(seqs):
                raise ValueError(f"{len(labels)} artist labels for {len(seqs)} sequences")
            lengths = [len(s) for s in seqs]
            flat_artists = np.repeat(np.asarray(labels, dtype=np.int32), lengths)
        starts, offset = [], 0
        for s in seqs:
            if len(s) > seq_len:
                starts.append(offset + np.arange(len(s) - seq_len, dtype=np.int64))
            offset += len(s)
        all_starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        return cls(flat=flat, starts=all_starts, seq_len=int(seq_len), flat_artists=flat_artists)

    def __len__(self) -> int:
        return len(self.starts)

    def subset(self, index: np.ndarray) -> Windows:
        """The windows at positions ``index`` of this set (same flat array, no copy of it)."""
        index = np.asarray(index, dtype=np.int64)
        return Windows(self.flat, self.starts[index], self.seq_len, self.flat_artists)

    def artists(self) -> np.ndarray | None:
        """The artist id of every window (``None``: windows of one artist's data)."""
        return None if self.flat_artists is None else self.flat_artists[self.starts]

    def sample(self, n: int, seed: int | Sequence[int]) -> Windows:
        """A seeded random subset of ``n`` windows (all of them when ``n`` is 0 or too big)."""
        if n <= 0 or n >= len(self):
            return self
        pick = np.random.default_rng(seed).choice(len(self), size=n, replace=False)
        return self.subset(np.sort(pick))

    def targets(self) -> np.ndarray:
        """The next-token ids, one per window (``int32``)."""
        return self.flat[self.starts + self.seq_len]

    def contexts(self, width: int) -> np.ndarray:
        """The last ``width`` ids of every window, shape ``(n, width)`` (for n-gram baselines)."""
        width = min(int(width), self.seq_len)
        cols = np.arange(self.seq_len - width, self.seq_len, dtype=np.int64)
        return self.flat[self.starts[:, None] + cols[None, :]]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Materialised ``(x (n, seq_len) int32, y (n,) int32)`` — for small sets only."""
        return self.contexts(self.seq_len), self.targets()

    def dataset(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        epoch: int = 0,
        every_step: bool = False,
    ) -> tf.data.Dataset:
        """Batches of ``(ids (b, seq_len) int32, next (b,) int32)`` gathered on the fly;
        with :attr:`flat_artists` the inputs are ``{"tokens": ids, "artist": (b, 1) int32}``
        (a conditioned model's two inputs).

        ``every_step``: the targets are the next token after every position, ``(b,
        seq_len)`` — the window shifted by one, its last column the usual target (for
        ``sequence_loss`` training).

        With ``shuffle`` the order is a permutation seeded by ``(seed, epoch)``, so every
        epoch differs, yet a run resumed at epoch ``k`` sees exactly the batches it would
        have seen without the interruption. Autotuning is off (stable timings here).
        """
        import tensorflow as tf

        starts = self.starts
        if shuffle:
            starts = starts[np.random.default_rng([int(seed), int(epoch)]).permutation(len(starts))]
        # int32 offsets whenever they fit: half the index bytes, and faster gathers.
        index_dtype = np.int32 if len(self.flat) < 2**31 - 1 else np.int64
        starts = starts.astype(index_dtype)
        flat = tf.constant(self.flat, dtype=tf.int32)
        offsets = tf.range(self.seq_len, dtype=index_dtype)
        seq_len = tf.constant(self.seq_len, dtype=index_dtype)
        by_artist = None
        if self.flat_artists is not None:
            by_artist = tf.constant(self.flat_artists, dtype=tf.int32)

        def gather(batch_starts: tf.Tensor) -> tuple[Any, tf.Tensor]:
            x = tf.gather(flat, batch_starts[..., None] + offsets)
            if every_step:
                y = tf.gather(flat, batch_starts[..., None] + offsets + 1)
            else:
                y = tf.gather(flat, batch_starts + seq_len)
            if by_artist is None:
                return x, y
            return {"tokens": x, "artist": tf.gather(by_artist, batch_starts[..., None])}, y

        # One map call gathers _CHUNK batches at once and unbatch() hands them out: tf.data's
        # per-element overhead, not the gather, dominated one-batch-per-call here (this made
        # iteration as fast as gathering rows of a materialised array). The leftover full
        # batches and the final partial batch follow, in order.
        batch_size = int(batch_size)
        per_chunk = _CHUNK * batch_size
        n_chunks = len(starts) // per_chunk
        parts = []
        if n_chunks:
            head = starts[: n_chunks * per_chunk].reshape(n_chunks, _CHUNK, batch_size)
            parts.append(tf.data.Dataset.from_tensor_slices(head).map(gather).unbatch())
        tail = starts[n_chunks * per_chunk :]
        n_full = len(tail) // batch_size
        if n_full:
            rows = tail[: n_full * batch_size].reshape(n_full, batch_size)
            parts.append(tf.data.Dataset.from_tensor_slices(rows).map(gather))
        if len(tail) > n_full * batch_size:
            parts.append(tf.data.Dataset.from_tensors(tail[n_full * batch_size :]).map(gather))
        if not parts:  # no window: an empty dataset of the right structure
            empty = starts.reshape(0, batch_size)
            parts.append(tf.data.Dataset.from_tensor_slices(empty).map(gather))
        ds = parts[0]
        for part in parts[1:]:
            ds = ds.concatenate(part)
        ds = ds.prefetch(2)
        options = tf.data.Options()
        options.autotune.enabled = False
        options.deterministic = True
        return ds.with_options(options)


def make_dataset(
    seqs: Sequence[np.ndarray],
    seq_len: int,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    input_kind: str = "embedding",
    vocab_size: int | None = None,
    epoch: int = 0,
) -> tf.data.Dataset:
    """``(window, next)`` batches of every window of ``seqs``, made on the fly.

    Both input kinds get int ids: scalar models normalise ``id / vocab_size`` inside the
    model (see :mod:`pianogen.models`), so ``input_kind`` only selects checks. ``vocab_size``
    (optional) verifies every id is in range.
    """
    if input_kind not in ("scalar", "embedding"):
        raise ValueError(f"input_kind must be 'scalar' or 'embedding', got {input_kind!r}")
    windows = Windows.from_seqs(seqs, seq_len)
    if vocab_size is not None and len(windows.flat):
        low, high = int(windows.flat.min()), int(windows.flat.max())
        if low < 0 or high >= vocab_size:
            raise ValueError(f"token ids must be in 0..{vocab_size - 1}, found {low}..{high}")
    return windows.dataset(batch_size, shuffle=shuffle, seed=seed, epoch=epoch)


@dataclass
class Prepared:
    """An artist's data, tokenised, split and encoded with the training vocabulary.

    ``splits[name]`` holds ``int32`` id arrays. For a piece split these are the pieces of
    each split (``names`` gives their names). For a window split, ``splits["train"]`` is
    every piece (training windows come from all of them) and ``splits["validation"]`` /
    ``splits["test"]`` hold the held-out windows themselves (``seq_len + 1`` ids each, the
    last one the target), so primers and audits can use them like pieces; the exact window
    assignment is ``window_index`` (positions into ``Windows.from_seqs(all pieces)``).
    Use :meth:`windows` to get the training/evaluation windows of a split for either kind.
    """

    vocab: Vocab
    splits: dict[str, list[np.ndarray]]
    names: dict[str, list[str]]
    skipped: list[Any]
    data_hash: str
    kind: str
    seq_len: int
    pieces: list[np.ndarray] = field(default_factory=list)
    window_index: dict[str, np.ndarray] | None = None
    # Transposed copies of the training pieces (``TokenConfig.augment_keys > 1``, piece
    # split only): they add training windows but are no pieces of their own, so memorization
    # audits and primers, which read ``splits``, never see them.
    augmented: list[np.ndarray] = field(default_factory=list)
    # A conditioned model's pooled data (pianogen.conditioned.prepare_pooled): the artist id
    # of every piece of ``splits`` (same layout) and of every copy in ``augmented``; its
    # windows then carry their artist (Windows.flat_artists). None: one artist's data.
    labels: dict[str, list[int]] | None = None
    augmented_labels: list[int] = field(default_factory=list)
    by_artist: dict[str, Prepared] = field(default_factory=dict)  # each artist's own data

    def windows(self, split: str) -> Windows:
        """The (window, next) pairs of ``split`` ("train", "validation" or "test").

        The training windows include those of the transposed copies (:attr:`augmented`).
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if self.window_index is None:
            extra = self.augmented if split == "train" else []
            labels = None
            if self.labels is not None:
                labels = [*self.labels[split], *(self.augmented_labels if extra else [])]
            return Windows.from_seqs([*self.splits[split], *extra], self.seq_len, labels)
        return Windows.from_seqs(self.pieces, self.seq_len).subset(self.window_index[split])

    def validation_windows(self, train: TrainConfig) -> Windows:
        """The validation windows a run's epochs are scored on: a seeded subset of at most
        ``train.max_train_windows`` of them (all when that is 0 or more than there are)."""
        return self.windows("validation").sample(train.max_train_windows, [train.seed, 2])

    def counts(self) -> dict[str, int]:
        """Windows per split."""
        return {name: len(self.windows(name)) for name in SPLITS}


def prepare(
    run_config: RunConfig, data_dir: Path, cache_dir: Path = Path(".cache"), progress: bool = True
) -> Prepared:
    """Load, tokenise, split and encode ``run_config.artist`` (see the module docstring).

    The vocabulary is counted on the training pieces only (piece split), so test pieces may
    contain tokens the model cannot predict; those are dropped like any rare token. For the
    window split it is counted on every piece — a window-level count would be circular (the
    windows are defined on encoded ids) and the training windows cover nearly every token
    anyway; this is also what the paper did. Raises :class:`NotEnoughData` when the artist
    has fewer tokens than one window or a split ends up with no window.
    """
    from pianogen import data, tokens

    tc = run_config.tokens
    loaded = data.load_artist(
        Path(data_dir),
        run_config.artist,
        engine=tc.engine,
        cache_dir=Path(cache_dir),
        progress=progress,
        max_notes=tc.max_notes_per_file,
    )
    return prepare_tokens(
        [tokens.encode_piece(piece, tc.vocabulary) for piece in loaded.pieces],
        [piece.name for piece in loaded.pieces],
        run_config,
        skipped=list(loaded.skipped),
        data_hash=loaded.data_hash,
    )


def prepare_tokens(
    token_seqs: Sequence[Sequence[str]],
    names: Sequence[str],
    run_config: RunConfig,
    *,
    skipped: Sequence[Any] = (),
    data_hash: str = "",
) -> Prepared:
    """Split token sequences (one per piece), build the vocabulary, encode: see :func:`prepare`."""
    from pianogen.vocab import build_vocab

    tc = run_config.tokens
    seq_len = tc.seq_len
    token_seqs = [list(s) for s in token_seqs]
    piece_names = [str(n) for n in names]
    if len(piece_names) != len(token_seqs):
        raise ValueError(f"{len(piece_names)} names for {len(token_seqs)} pieces")
    total = sum(len(s) for s in token_seqs)
    longest = max((len(s) for s in token_seqs), default=0)
    if longest < seq_len + 1:
        raise NotEnoughData(
            f"artist {run_config.artist!r} has {len(token_seqs)} usable piece(s) with "
            f"{total} tokens (longest {longest}); one window needs seq_len + 1 = {seq_len + 1} "
            f"tokens in one piece; add music or lower seq_len"
        )
    common = {"skipped": list(skipped), "data_hash": data_hash, "seq_len": seq_len}
    if run_config.split.kind == "piece":
        parts = split_pieces(len(token_seqs), run_config.split, [len(s) for s in token_seqs])
        train_seqs = [token_seqs[i] for i in parts["train"]]
        copies = transposed_copies(train_seqs, tc.augment_keys, tc.vocabulary)
        vocab = build_vocab([*train_seqs, *copies], tc.min_count, vocabulary=tc.vocabulary)
        encoded = [vocab.encode(s) for s in token_seqs]
        prepared = Prepared(
            vocab=vocab,
            splits={name: [encoded[i] for i in parts[name]] for name in SPLITS},
            names={name: [piece_names[i] for i in parts[name]] for name in SPLITS},
            kind="piece",
            pieces=encoded,
            augmented=[vocab.encode(s) for s in copies],
            **common,
        )
    else:
        vocab = build_vocab(token_seqs, tc.min_count, vocabulary=tc.vocabulary)
        encoded = [vocab.encode(s) for s in token_seqs]
        all_windows = Windows.from_seqs(encoded, seq_len)
        if len(all_windows) < 3:
            raise NotEnoughData(
                f"artist {run_config.artist!r}: {len(all_windows)} window(s) after the "
                f"vocabulary (min_count {tc.min_count}); a window split needs at least 3"
            )
        index = split_windows(len(all_windows), run_config.split)
        splits: dict[str, list[np.ndarray]] = {"train": encoded}
        split_names = {"train": piece_names}
        for name in ("validation", "test"):
            held = all_windows.subset(index[name])
            ids = np.concatenate([held.contexts(seq_len), held.targets()[:, None]], axis=1)
            splits[name] = list(ids.astype(np.int32))
            split_names[name] = [f"window {int(s)}" for s in held.starts]
        prepared = Prepared(
            vocab=vocab,
            splits=splits,
            names=split_names,
            kind="window",
            pieces=encoded,
            window_index=index,
            **common,
        )
    _check_windows(prepared, run_config.artist)
    return prepared


def transposed_copies(seqs: Sequence[Sequence[str]], keys: int, vocabulary: str) -> list[list[str]]:
    """Each sequence in the ``keys - 1`` other keys of :func:`pianogen.tokens.augment_shifts`
    (the originals are not repeated). A copy that would push a pitch out of MIDI 0..127 is
    left out, so a piece at the edge of the keyboard is used in fewer keys."""
    from pianogen.tokens import augment_shifts, transpose_tokens

    copies = []
    for k in augment_shifts(keys)[1:]:
        for seq in seqs:
            moved = transpose_tokens(seq, k, vocabulary)
            if moved is not None:
                copies.append(moved)
    return copies


def _check_windows(prepared: Prepared, artist: str) -> None:
    """Every split needs at least one window; say which one is empty and why."""
    for name, n in prepared.counts().items():
        if n == 0:
            tokens = sum(len(s) for s in prepared.splits[name])
            raise NotEnoughData(
                f"artist {artist!r}: the {name} split has no window ({len(prepared.splits[name])} "
                f"piece(s), {tokens} tokens after the vocabulary; a window needs "
                f"{prepared.seq_len + 1} tokens in one piece); add music, use --split window "
                f"or lower min_count"
            )
