"""A trained next-token model run one token at a time, with the sampling loop compiled.

:class:`Stepper` re-implements the network of :mod:`pianogen.models` one time step at a
time from its weights — GRU/LSTM cell math, BatchNorm in inference form (folded into the
next layer's weights), Dense and softmax — checks itself against the model on two random
windows, and compiles the sampling loop — primer, token steps, sampling with a stateless
RNG, output buffer — into XLA programs (the primer, then fixed chunks of :data:`CHUNK`
steps) that generate a batch of samples at once. It is
the engine of :func:`pianogen.generate.generate_ids`, whose module docstring explains the
two modes:

``"window"`` — each prediction from exactly the last seq_len tokens (the windowed model's
view, equal to ``model.predict`` on that window), carried by seq_len staggered lanes per
sample that restart from zero in turn; ``"stream"`` — one state per sample carried through
the whole history (fastest; a different distribution after the first step).

Split from :mod:`pianogen.generate` to keep modules small.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from pianogen.errors import GenerateError

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

__all__ = ["Stepper", "stepper_for"]


# ------------------------------------------------------------------------ the step model
@dataclass(frozen=True)
class _Cell:
    kind: str  # "gru" | "lstm"
    units: int
    kernel: Any  # None: the input arrives already projected (x @ kernel + in_bias)
    recurrent: Any
    in_bias: Any  # added to x @ kernel
    rec_bias: Any  # GRU reset_after: added to h @ recurrent (inside the reset gate); else None
    activation: Any
    recurrent_activation: Any
    reset_after: bool = True


@dataclass(frozen=True)
class _Affine:  # BatchNormalization in inference form
    scale: Any
    shift: Any


@dataclass(frozen=True)
class _Dense:
    kernel: Any  # None for a bare activation
    bias: Any
    activation: Any


def _fold(table: np.ndarray, ops: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Exact algebra that saves work per step (float32 rounding aside).

    A BatchNorm followed by a cell or a dense layer is folded into that layer's input
    weights, ``(x * s + t) @ K + b == x @ (s[:, None] * K) + (t @ K + b)``; the first cell's
    input projection is folded into the token table, ``table[id] @ K + b`` precomputed for
    every id.
    """
    out: list[Any] = []
    pending: _Affine | None = None
    for op in ops:
        if isinstance(op, _Affine):
            if pending is not None:
                op = _Affine(pending.scale * op.scale, pending.shift * op.scale + op.shift)
            pending = op
            continue
        kernel = op.kernel
        if pending is not None and kernel is not None:
            bias = op.in_bias if isinstance(op, _Cell) else op.bias
            bias = (0.0 if bias is None else bias) + pending.shift @ kernel
            kernel = pending.scale[:, None] * kernel
            op = (
                replace(op, kernel=kernel, in_bias=bias)
                if isinstance(op, _Cell)
                else replace(op, kernel=kernel, bias=bias)
            )
            pending = None
        elif pending is not None:
            out.append(pending)
            pending = None
        out.append(op)
    if pending is not None:
        out.append(pending)
    first = next(i for i, op in enumerate(out) if isinstance(op, _Cell))
    if first == 0:
        cell = out[0]
        table = table @ cell.kernel + cell.in_bias
        out[0] = replace(cell, kernel=None, in_bias=None)
    return table.astype(np.float32), out


def _const(value: Any) -> Any:
    import tensorflow as tf

    if isinstance(value, np.ndarray):
        return tf.constant(value.astype(np.float32))
    return value


def _numpy(variable: Any) -> np.ndarray:
    return np.asarray(variable.numpy(), dtype=np.float32)


def _fingerprint(model: keras.Model) -> tuple:
    """A cheap signature of the weights, so a cached :class:`Stepper` notices training."""
    return tuple(float(np.sum(w, dtype=np.float64)) for w in model.get_weights())


CHUNK = 32  # token steps per compiled chunk of the sampling loop (see Stepper._build)


class Stepper:
    """A trained model run one token at a time, with the sampling loop compiled.

    Built from the model's layers after its first recurrent layer (see :mod:`pianogen.models`
    for the layer contract); everything before it (the ``normalise`` rescaling or the
    ``embedding``) is per time step, so it is tabulated once for every token id.
    """

    def __init__(self, model: keras.Model, *, jit: bool = True) -> None:
        import keras
        import tensorflow as tf

        if len(model.inputs) != 1 or len(model.input_shape) != 2:
            raise GenerateError("the model must take one input of token ids, shape (seq_len,)")
        self.seq_len = int(model.input_shape[1])
        self.vocab_size = int(model.output_shape[-1])
        layers = list(model.layers)
        rnn_at = [i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.RNN)]
        if not rnn_at:
            raise GenerateError(f"model {model.name!r} has no recurrent layer to step")
        first = layers[rnn_at[0]]
        table = self._feature_table(keras.Model(model.inputs[0], first.input))
        ops: list[Any] = []
        for i, layer in enumerate(layers[rnn_at[0] :], start=rnn_at[0]):
            op = self._convert(layer, is_last_rnn=i == rnn_at[-1])
            if op is not None:
                ops.append(op)
        if not isinstance(layers[-1], keras.layers.Dense):
            raise GenerateError("the model must end in a softmax Dense layer (the 'head')")
        table, ops = _fold(table, ops)
        ops = [
            replace(op, **{f.name: _const(getattr(op, f.name)) for f in fields(op)}) for op in ops
        ]
        last_cell = max(i for i, op in enumerate(ops) if isinstance(op, _Cell))
        self.table = tf.constant(table)
        self.body: list[Any] = ops[: last_cell + 1]  # run on every lane
        self.top: list[Any] = ops[last_cell + 1 : -1]  # only on the rows that predict
        self.head: _Dense = ops[-1]
        self.cells = [op for op in self.body if isinstance(op, _Cell)]
        self._compiled: dict[tuple[str, bool], Any] = {}
        self.jit = jit
        self._verify(model)

    def _verify(self, model: keras.Model, tolerance: float = 1e-4) -> None:
        """Step two random windows through (eagerly) and compare with the model itself, so a
        layer graph this class misreads fails loudly here instead of generating nonsense."""
        import tensorflow as tf

        windows = np.random.default_rng(0).integers(0, self.vocab_size, (2, self.seq_len))
        state = self.zero_state(2)
        for t in range(self.seq_len):
            state = self.step(state, tf.constant(windows[:, t], tf.int32))
        mine = tf.nn.softmax(self.logits(self._last_hidden(state))).numpy()
        theirs = np.asarray(model(windows.astype(np.int32), training=False))
        error = float(np.max(np.abs(mine - theirs)))
        if not error <= tolerance:  # also catches NaN
            raise GenerateError(
                f"the one-step form of model {model.name!r} disagrees with the model itself "
                f"(max probability difference {error:.2g}); its layers are not the plain "
                f"chain pianogen.models builds (tokens -> recurrent layers -> dense -> head)"
            )

    # -- conversion ------------------------------------------------------------------
    def _feature_table(self, front: Any) -> np.ndarray:
        """What the layers before the first recurrent layer make of each token id, (V, F).

        Computed twice with the ids in different positions and neighbourhoods: a front that
        is not per time step (it would mix tokens) is refused instead of silently misused.
        """
        seq_len, vocab = self.seq_len, self.vocab_size
        rows = -(-vocab // seq_len) + 1
        tables = []
        for order in (
            np.arange(rows * seq_len),
            np.random.default_rng(0).permutation(rows * seq_len),
        ):
            ids = (order % vocab).astype(np.int32)
            out = np.asarray(front(ids.reshape(rows, seq_len), training=False), dtype=np.float32)
            if out.ndim != 3 or out.shape[1] != seq_len:
                raise GenerateError(
                    f"the layers before the first recurrent layer give shape {out.shape[1:]}, "
                    f"expected ({seq_len}, features): they must work per time step"
                )
            table = np.zeros((vocab, out.shape[2]), dtype=np.float32)
            table[ids] = out.reshape(rows * seq_len, -1)
            tables.append(table)
        if not np.allclose(tables[0], tables[1], atol=1e-6):
            raise GenerateError(
                "the layers before the first recurrent layer mix time steps; generation "
                "needs them per time step (an embedding or a rescaling)"
            )
        return tables[0]

    def _convert(self, layer: Any, *, is_last_rnn: bool) -> Any:
        import keras

        name = f"layer {layer.name!r} ({type(layer).__name__})"
        if isinstance(layer, keras.layers.GRU | keras.layers.LSTM):
            if layer.go_backwards or layer.stateful:
                raise GenerateError(f"{name}: backwards or stateful layers cannot be stepped")
            if layer.return_sequences == is_last_rnn:
                raise GenerateError(
                    f"{name}: every recurrent layer but the last must return sequences"
                )
            cell = layer.cell
            kind = "gru" if isinstance(layer, keras.layers.GRU) else "lstm"
            reset_after = kind == "gru" and bool(getattr(cell, "reset_after", True))
            kernel = _numpy(cell.kernel)
            bias = np.zeros((2, kernel.shape[1]) if reset_after else kernel.shape[1], np.float32)
            if cell.bias is not None:
                bias = _numpy(cell.bias)
            return _Cell(
                kind=kind,
                units=int(cell.units),
                kernel=kernel,
                recurrent=_numpy(cell.recurrent_kernel),
                in_bias=bias[0] if reset_after else bias,
                rec_bias=bias[1] if reset_after else None,
                activation=cell.activation,
                recurrent_activation=cell.recurrent_activation,
                reset_after=reset_after,
            )
        if isinstance(layer, keras.layers.BatchNormalization):
            axis = layer.axis if isinstance(layer.axis, int) else next(iter(layer.axis))
            if axis not in (-1, len(layer.input.shape) - 1):
                raise GenerateError(f"{name}: only last-axis BatchNormalization is supported")
            mean, var = _numpy(layer.moving_mean), _numpy(layer.moving_variance)
            gamma = _numpy(layer.gamma) if layer.scale else np.ones_like(mean)
            beta = _numpy(layer.beta) if layer.center else np.zeros_like(mean)
            scale = gamma / np.sqrt(var + np.float32(layer.epsilon))
            return _Affine(scale, beta - mean * scale)
        if isinstance(layer, keras.layers.Dropout | keras.layers.GaussianNoise):
            return None  # identity at inference
        if isinstance(layer, keras.layers.Dense):
            bias = _numpy(layer.bias) if layer.use_bias else None
            return _Dense(_numpy(layer.kernel), bias, layer.activation)
        if isinstance(layer, keras.layers.Activation):
            return _Dense(None, None, layer.activation)
        raise GenerateError(f"{name} has no one-step form; supported: GRU, LSTM, BatchNorm, Dense")

    # -- one time step -----------------------------------------------------------------
    def zero_state(self, rows: Any) -> list[Any]:
        import tensorflow as tf

        state = []
        for cell in self.cells:
            state.append(tf.zeros(tf.stack([rows, cell.units])))
            if cell.kind == "lstm":
                state.append(tf.zeros(tf.stack([rows, cell.units])))
        return state

    def step(self, state: list[Any], ids: Any) -> list[Any]:
        """Feed one token id per row; return the new state (a list of tensors)."""
        import tensorflow as tf

        x = tf.gather(self.table, ids)
        new: list[Any] = []
        at = 0
        for op in self.body:
            if isinstance(op, _Affine):
                x = x * op.scale + op.shift
                continue
            h = state[at]
            if op.kind == "gru":
                x = self._gru(op, x, h)
                new.append(x)
                at += 1
            else:
                x, c = self._lstm(op, x, h, state[at + 1])
                new.extend([x, c])
                at += 2
        return new

    def advance(self, state: list[Any], ids: Any) -> tuple[list[Any], Any]:
        """Feed one token id per row; return the new state and the next token's logits."""
        new = self.step(state, ids)
        return new, self.logits(self._last_hidden(new))

    @staticmethod
    def _project(op: _Cell, x: Any) -> Any:
        import tensorflow as tf

        return x if op.kernel is None else tf.matmul(x, op.kernel) + op.in_bias

    @staticmethod
    def _gru(op: _Cell, x: Any, h: Any) -> Any:
        import tensorflow as tf

        u = op.units
        xw = Stepper._project(op, x)
        if op.reset_after:
            hz, hr, hh = tf.split(tf.matmul(h, op.recurrent) + op.rec_bias, 3, axis=-1)
            xz, xr, xh = tf.split(xw, 3, axis=-1)
            z = op.recurrent_activation(xz + hz)
            r = op.recurrent_activation(xr + hr)
            cand = op.activation(xh + r * hh)
        else:
            hw = tf.matmul(h, op.recurrent[:, : 2 * u])
            z = op.recurrent_activation(xw[:, :u] + hw[:, :u])
            r = op.recurrent_activation(xw[:, u : 2 * u] + hw[:, u:])
            cand = op.activation(xw[:, 2 * u :] + tf.matmul(r * h, op.recurrent[:, 2 * u :]))
        return z * h + (1.0 - z) * cand

    @staticmethod
    def _lstm(op: _Cell, x: Any, h: Any, c: Any) -> tuple[Any, Any]:
        import tensorflow as tf

        gates = Stepper._project(op, x) + tf.matmul(h, op.recurrent)
        i, f, g, o = tf.split(gates, 4, axis=-1)
        c = op.recurrent_activation(f) * c + op.recurrent_activation(i) * op.activation(g)
        return op.recurrent_activation(o) * op.activation(c), c

    def logits(self, hidden: Any) -> Any:
        """Head logits from the last recurrent layer's output (softmax gives probabilities)."""
        import tensorflow as tf

        x = hidden
        for op in self.top:
            x = x * op.scale + op.shift if isinstance(op, _Affine) else self._dense(op, x)
        head = self.head
        x = tf.matmul(x, head.kernel)
        if head.bias is not None:
            x = x + head.bias
        if getattr(head.activation, "__name__", "") == "softmax":
            return x
        return tf.math.log(head.activation(x))  # any other normalised head

    @staticmethod
    def _dense(op: _Dense, x: Any) -> Any:
        import tensorflow as tf

        if op.kernel is not None:
            x = tf.matmul(x, op.kernel)
            if op.bias is not None:
                x = x + op.bias
        return op.activation(x)

    def _last_hidden(self, state: list[Any]) -> Any:
        return state[-2] if self.cells[-1].kind == "lstm" else state[-1]

    # -- sampling --------------------------------------------------------------------
    def choose(
        self, logits: Any, t: Any, temperature: Any, top_k: Any, top_p: Any, seed: Any
    ) -> Any:
        """One token id per row of ``logits``: :func:`pianogen.generate.sample`, compiled.

        Temperature, then top-k, then top-p exactly as :func:`pianogen.generate.filter_logits`
        (both filters share one sort, skipped when both are off), then inverse-CDF sampling:
        one uniform number per row, keyed by ``(seed, t)``, against the running sum of the
        weights. XLA has no multinomial kernel, and one uniform per row is cheaper than the
        Gumbel-max trick's two logarithms per token (at batch 64 Gumbel noise cost a quarter
        of each step). A token whose weight is zero (filtered out) is never drawn.
        """
        import tensorflow as tf

        vocab = self.vocab_size
        neg_inf = tf.constant(-np.inf, tf.float32)
        inf = tf.constant(np.inf, tf.float32)
        x = logits / temperature
        k_on = tf.logical_and(top_k > 0, top_k < vocab)
        p_on = top_p < 1.0

        def filtered(v: Any) -> Any:
            ordered = tf.sort(v, axis=-1, direction="DESCENDING")
            # top-k: the k-th largest value is the smallest of the first k sorted ones
            k = tf.where(k_on, top_k, vocab)
            first_k = tf.range(vocab)[None, :] < k
            kth = tf.reduce_min(tf.where(first_k, ordered, inf), axis=-1, keepdims=True)
            v = tf.where(v < kth, neg_inf, v)
            # top-p on what top-k kept: the smallest most probable set reaching top_p
            ordered = tf.where(ordered < kth, neg_inf, ordered)
            before = tf.math.cumsum(tf.nn.softmax(ordered), axis=-1, exclusive=True)
            keep = tf.logical_or(before < top_p, tf.logical_not(p_on))
            threshold = tf.reduce_min(tf.where(keep, ordered, inf), axis=-1, keepdims=True)
            return tf.where(v < threshold, neg_inf, v)

        x = tf.cond(tf.logical_or(k_on, p_on), lambda: filtered(x), lambda: x)
        weight = tf.exp(x - tf.reduce_max(x, axis=-1, keepdims=True))  # removed tokens: 0
        running = tf.math.cumsum(weight, axis=-1)
        key = tf.stack([tf.cast(seed, tf.int64), tf.cast(t, tf.int64)])
        uniform = tf.random.stateless_uniform(tf.stack([tf.shape(x)[0], 1]), seed=key)
        hit = tf.logical_and(running > uniform * running[:, -1:], weight > 0)
        return tf.argmax(tf.cast(hit, tf.int32), axis=-1, output_type=tf.int32)

    # -- the compiled loop -----------------------------------------------------------
    def _function(self, mode: str, return_probs: bool) -> Any:
        key = (mode, return_probs)
        if key not in self._compiled:
            self._compiled[key] = self._build(mode, return_probs)
        return self._compiled[key]

    def _build(self, mode: str, return_probs: bool) -> Any:
        """The sampling loop: the primer and then chunks of :data:`CHUNK` token steps, each
        one XLA program (when ``self.jit``), looped over by a TensorFlow graph.

        Compiling a chunk whole — token steps, sampling, its output buffer — removes
        TensorFlow's per-op dispatch between steps: ~2x at batch 1, 1.2-1.4x at batch 64
        over compiling only the step (``benchmarks/bench_generate.py``). The chunk has a
        fixed length so that XLA compiles it once per batch size, whatever ``n_tokens``
        (a whole-run program would compile again for every length asked for); the last
        chunk stops at ``n_tokens``. Token ``t`` is drawn with the key
        ``(seed, t)``, so the chunking never changes the tokens.
        """
        import tensorflow as tf

        seq_len = self.seq_len
        vocab = self.vocab_size
        choose = self.choose
        chunk_len = CHUNK

        def prime(primers):
            if mode == "stream":
                state = self.zero_state(tf.shape(primers)[0])
                for i in tf.range(seq_len - 1):
                    state = self.step(state, primers[:, i])
                return self.advance(state, primers[:, seq_len - 1])
            # Row b * seq_len + j is lane j of sample b; lane j restarts every seq_len
            # tokens, so before step t lane (t mod seq_len) has read exactly the last
            # seq_len tokens from a zero state: the windowed model's view.
            lane = tf.tile(tf.range(seq_len), [tf.shape(primers)[0]])
            state = self.zero_state(tf.shape(lane)[0])
            for i in tf.range(seq_len):
                state = self.step(state, tf.repeat(primers[:, i], seq_len))
                started = tf.cast(lane <= i, tf.float32)[:, None]
                state = [s * started for s in state]
            return state, tf.zeros([tf.shape(primers)[0], vocab])  # logits: made per step

        def token_step(state, logits, t, temperature, top_k, top_p, seed):
            """Draw token ``t``; return the new state, the logits it was drawn from (window)
            or the next token's (stream), the token and its probabilities."""
            if mode == "stream":
                token = choose(logits, t, temperature, top_k, top_p, seed)
                new_state, next_logits = self.advance(state, token)
                return new_state, next_logits, token, tf.nn.softmax(logits)
            batch = tf.shape(logits)[0]
            lane = tf.tile(tf.range(seq_len), [batch])
            ready = tf.math.floormod(t, seq_len)
            rows = tf.range(batch) * seq_len + ready
            logits = self.logits(tf.gather(self._last_hidden(state), rows))
            token = choose(logits, t, temperature, top_k, top_p, seed)
            restart = tf.cast(lane != ready, tf.float32)[:, None]
            new_state = self.step([s * restart for s in state], tf.repeat(token, seq_len))
            return new_state, logits, token, tf.nn.softmax(logits)

        def chunk(state, logits, t0, limit, temperature, top_k, top_p, seed):
            """Tokens t0 .. t0 + limit - 1 (limit <= chunk_len; the buffers keep their fixed
            length, so one program serves every limit)."""
            batch = tf.shape(logits)[0]
            out = tf.zeros([chunk_len, batch], tf.int32)
            probs = tf.zeros([chunk_len if return_probs else 0, batch, vocab])
            for i in tf.range(limit):
                state, logits, token, p = token_step(
                    state, logits, t0 + i, temperature, top_k, top_p, seed
                )
                out = tf.tensor_scatter_nd_update(out, [[i]], token[None])
                if return_probs:
                    probs = tf.tensor_scatter_nd_update(probs, [[i]], p[None])
            return state, logits, out, probs

        prime = tf.function(prime, jit_compile=self.jit)
        chunk = tf.function(chunk, jit_compile=self.jit)
        spec = [
            tf.TensorSpec([None, seq_len], tf.int32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32),
            tf.TensorSpec([], tf.int64),
        ]

        @tf.function(input_signature=spec, reduce_retracing=True)
        def run(primers, n_tokens, temperature, top_k, top_p, seed):
            batch = tf.shape(primers)[0]
            state, logits = prime(primers)
            n_chunks = (n_tokens + chunk_len - 1) // chunk_len
            out = tf.TensorArray(tf.int32, size=n_chunks)
            probs = tf.TensorArray(tf.float32, size=n_chunks if return_probs else 0)
            for c in tf.range(n_chunks):
                t0 = c * chunk_len
                state, logits, drawn, p = chunk(
                    state,
                    logits,
                    t0,
                    tf.minimum(chunk_len, n_tokens - t0),
                    temperature,
                    top_k,
                    top_p,
                    seed,
                )
                out = out.write(c, drawn)
                if return_probs:
                    probs = probs.write(c, p)
            tokens = tf.reshape(out.stack(), [n_chunks * chunk_len, batch])[:n_tokens]
            tokens = tf.transpose(tokens, [1, 0])
            if return_probs:
                p = tf.reshape(probs.stack(), [n_chunks * chunk_len, batch, vocab])[:n_tokens]
                return tokens, tf.transpose(p, [1, 0, 2])
            return tokens, tf.zeros([batch, 0, vocab])

        return run

    def generate(
        self,
        primers: np.ndarray,
        n_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int = 0,
        mode: str = "window",
        return_probs: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(tokens (B, n_tokens), probs (B, n_tokens, V) or None)`` for checked primers."""
        import tensorflow as tf

        args = (
            np.ascontiguousarray(primers, dtype=np.int32),
            np.int32(n_tokens),
            np.float32(temperature),
            np.int32(top_k),
            np.float32(top_p),
            np.int64(seed),
        )
        try:
            tokens, probs = self._function(mode, return_probs)(*args)
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as exc:
            if not self.jit:
                raise
            log.warning("XLA could not compile the step (%s); using plain TensorFlow", exc)
            self.jit = False
            self._compiled.clear()
            tokens, probs = self._function(mode, return_probs)(*args)
        return tokens.numpy(), (probs.numpy() if return_probs else None)


_STEPPERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _NoRetracingNotice(logging.Filter):
    """Hide TensorFlow's "triggered tf.function retracing" notice: each Stepper compiles its
    own loop once per mode on purpose, which that heuristic mistakes for a mistake."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def _quiet_retracing() -> None:
    import tensorflow as tf

    logger = tf.get_logger()
    if not any(isinstance(f, _NoRetracingNotice) for f in logger.filters):
        logger.addFilter(_NoRetracingNotice())


def stepper_for(model: keras.Model) -> Stepper:
    """The (cached) :class:`Stepper` of ``model``; rebuilt when its weights changed."""
    signature = _fingerprint(model)
    cached = _STEPPERS.get(model)
    if cached is not None and cached[0] == signature:
        return cached[1]
    _quiet_retracing()
    stepper = Stepper(model)
    _STEPPERS[model] = (signature, stepper)
    return stepper
