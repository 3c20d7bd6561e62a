"""Every registered vocabulary keeps the same contract, and a new one is one class.

The contract tests run over the registry (``tokens.vocabulary_names()``), so a vocabulary
added later is checked by them without a new test; the dummy third vocabulary below shows
that registering a class is all it takes for configs, run names, vocabulary files,
generation's timing and the book's page titles to know it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pianogen import tokens
from pianogen.notes import Note

NAMES = tokens.vocabulary_names()

# A tiny piece built by hand: a chord, a gap, a melody note held over a bass, a repeat.
PIECE = [
    Note(0, 6, 60),
    Note(0, 6, 64),
    Note(0, 6, 67),
    Note(12, 3, 62),
    Note(15, 9, 48),
    Note(15, 3, 65),
    Note(18, 6, 65),
]

notes_strategy = st.lists(
    st.builds(
        Note,
        onset=st.integers(0, 200),
        duration=st.integers(1, 48),
        pitch=st.integers(12, 115),
        velocity=st.just(80),
    ),
    min_size=1,
    max_size=30,
)


def stable(v: tokens.Vocabulary, toks: list[str]) -> bool:
    """Encoding the decoded tokens gives them back (without rests where the vocabulary
    derives its rests again)."""
    again = v.encode(v.decode(toks))
    if v.rests_rederived:
        return [t for t in again if v.pitches(t)] == [t for t in toks if v.pitches(t)]
    return again == toks


def test_built_in_names_in_order():
    assert NAMES[:3] == ("paper", "timed", "merged")


def test_unknown_vocabulary_message_names_the_registered_ones():
    with pytest.raises(ValueError) as err:
        tokens.get_vocabulary("x")
    assert str(err.value) == f"vocabulary must be one of {list(NAMES)}, got 'x'"


@pytest.mark.parametrize("name", NAMES)
def test_encode_decode_encode_is_stable(name):
    v = tokens.get_vocabulary(name)
    toks = v.encode(PIECE)
    assert toks and stable(v, toks)
    assert tokens.encode(PIECE, name) == toks  # the module functions delegate
    assert tokens.decode(toks, name) == v.decode(toks)


@pytest.mark.parametrize("name", NAMES)
def test_kinds_pitches_and_time_agree_with_decode(name):
    v = tokens.get_vocabulary(name)
    toks = v.encode(PIECE)
    assert {v.kind(t) for t in toks} <= set(v.kinds)
    decoded = v.decode(toks)
    # Decoding sounds each token's pitches at the time the tokens before it reach.
    expected = sorted((v.end_ticks(toks[:i]), p) for i, t in enumerate(toks) for p in v.pitches(t))
    assert sorted((x.onset, x.pitch) for x in decoded) == expected
    assert v.end_ticks(toks) >= max(x.onset for x in decoded)
    assert all(v.accepts(t) for t in toks)


@pytest.mark.parametrize("name", NAMES)
def test_transposition_moves_every_pitch_and_back(name):
    v = tokens.get_vocabulary(name)
    toks = v.encode(PIECE)
    up = v.transpose_all(toks, 2)
    assert up is not None and v.transpose_all(up, -2) == toks
    assert v.transpose_all(toks, 0) == toks
    moved = {x.pitch % 12 for x in v.decode(up)}
    assert moved == {(x.pitch + 2) % 12 for x in v.decode(toks)}
    assert v.transpose_all(toks, 127) is None  # a pitch would leave MIDI 0..127


@pytest.mark.parametrize("name", NAMES)
def test_foreign_tokens_are_refused_with_the_token_named(name):
    v = tokens.get_vocabulary(name)
    assert not v.accepts("not-a-token")
    with pytest.raises(ValueError, match="not-a-token"):
        v.decode(["not-a-token"])


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(notes=notes_strategy)
def test_property_round_trip_is_stable(name, notes):
    v = tokens.get_vocabulary(name)
    toks = v.encode(notes)
    assert stable(v, toks)


# --------------------------------------------------------------------------- a third one
class PitchClassVocabulary(tokens.Vocabulary):
    """One token per onset: the lowest pitch class sounding there (``pc0`` .. ``pc11``),
    a fixed step each — deliberately crude, to show what registering involves."""

    name = "pitchclass"
    label = "pitch-class tokens"
    run_suffix = "-pc"
    kinds = ("pc",)

    def encode(self, notes: Sequence[Note]) -> list[str]:
        lowest: dict[int, int] = {}
        for x in notes:
            lowest[x.onset] = min(lowest.get(x.onset, 128), x.pitch)
        return [f"pc{lowest[o] % 12}" for o in sorted(lowest)]

    def _pc(self, token: str) -> int:
        if not (token.startswith("pc") and token[2:].isdigit() and int(token[2:]) < 12):
            raise ValueError(f"{token!r} is not a pitch-class token")
        return int(token[2:])

    def kind(self, token: str) -> str:
        self._pc(token)
        return "pc"

    def sounds(self, token: str) -> list[tuple[int, int]]:
        return [(60 + self._pc(token), 6)]

    def ticks(self, token: str) -> int:
        self._pc(token)
        return 6

    def transpose(self, token: str, k: int) -> str | None:
        return f"pc{(self._pc(token) + k) % 12}"


@pytest.fixture
def third():
    v = tokens.register(PitchClassVocabulary())
    yield v
    tokens.unregister(v.name)
    assert "pitchclass" not in tokens.vocabulary_names()


def test_a_registered_vocabulary_is_known_everywhere(third, tmp_path):
    from pianogen.book import page_title
    from pianogen.config import TokenConfig, parse_run_name, run_name
    from pianogen.generate import primer_end_ticks
    from pianogen.vocab import Vocab, infer_vocabulary

    toks = tokens.encode(PIECE, "pitchclass")
    assert toks == ["pc0", "pc2", "pc0", "pc5"]
    assert [x.onset for x in tokens.decode(toks, "pitchclass")] == [0, 6, 12, 18]
    assert tokens.transpose_tokens(toks, 1, "pitchclass") == ["pc1", "pc3", "pc1", "pc6"]
    assert TokenConfig(vocabulary="pitchclass").vocabulary == "pitchclass"
    assert run_name("quick-gru", "pitchclass") == "quick-gru-pc"
    assert parse_run_name("quick-gru-pc") == ("quick-gru", "pitchclass")
    assert parse_run_name("quick-gru-timed") == ("quick-gru", "timed")
    assert parse_run_name("quick-gru") == ("quick-gru", "paper")
    assert infer_vocabulary(toks) == "pitchclass"
    vocab = Vocab(["pc0", "pc2", "pc5"], {"pc0": 2, "pc2": 1, "pc5": 1}, vocabulary="pitchclass")
    assert Vocab.load(vocab.save(tmp_path / "vocab.json")) == vocab
    assert primer_end_ticks(toks[:3], "pitchclass") == 18
    assert page_title("02_train_quick-gru-pc") == "Training quick-gru (pitch-class tokens)"
    assert page_title("02_train_quick-gru-pc_window") == (
        "Training quick-gru (window split, pitch-class tokens)"
    )


def test_registry_refuses_clashes(third):
    with pytest.raises(ValueError, match="already registered"):
        tokens.register(PitchClassVocabulary())
    clash = type("Clash", (PitchClassVocabulary,), {"name": "clash"})
    with pytest.raises(ValueError, match="run suffix '-pc'"):
        tokens.register(clash())
    with pytest.raises(ValueError, match="built-in"):
        tokens.unregister("paper")


def test_cli_offers_registered_vocabularies(third):
    from pianogen.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(
        ["explore", "--data-dir", "d", "--artist", "bach", "--vocabulary", "pitchclass"]
    )
    assert args.vocabulary == "pitchclass"
