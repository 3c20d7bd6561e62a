"""The note-level representation every stage shares.

A parsed MIDI file becomes a :class:`Piece`: a list of :class:`Note` on an integer grid of
``TICKS_PER_QUARTER`` ticks per quarter note. Twelve ticks hold both grids the study uses
(sixteenths = 3 ticks, eighth-note triplets = 4 ticks), so quantised times are exact
integers: JSON-friendly, hashable and free of float drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_QPM",
    "MAX_PIANO",
    "SIXTEENTH",
    "TICKS_PER_QUARTER",
    "TRIPLET_EIGHTH",
    "Note",
    "Piece",
    "quantize_ticks",
]

TICKS_PER_QUARTER = 12
SIXTEENTH = 3  # ticks
TRIPLET_EIGHTH = 4  # ticks
MAX_PIANO = 127
DEFAULT_QPM = 120.0


@dataclass(frozen=True, slots=True, order=True)
class Note:
    """One sounding note: onset and duration in ticks, MIDI pitch, MIDI velocity."""

    onset: int
    duration: int
    pitch: int
    velocity: int = 80

    def __post_init__(self) -> None:
        if self.onset < 0:
            raise ValueError(f"note onset must be >= 0 ticks, got {self.onset}")
        if self.duration <= 0:
            raise ValueError(f"note duration must be > 0 ticks, got {self.duration}")
        if not 0 <= self.pitch <= MAX_PIANO:
            raise ValueError(f"MIDI pitch must be in 0..127, got {self.pitch}")
        if not 0 <= self.velocity <= MAX_PIANO:
            raise ValueError(f"MIDI velocity must be in 0..127, got {self.velocity}")

    @property
    def end(self) -> int:
        return self.onset + self.duration


@dataclass(frozen=True, slots=True)
class Piece:
    """A parsed piece: its notes (sorted by onset, then pitch) and where it came from."""

    name: str
    notes: tuple[Note, ...]
    qpm: float = DEFAULT_QPM
    source: str = ""
    meta: dict = field(default_factory=dict, compare=False, hash=False)
    # The elements music21 makes of the piece, part by part (pianogen.partwise): each
    # ``(onset, pitches)``, ``()`` a rest. Empty for pieces not read from MIDI.
    streams: tuple = field(default=(), compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "notes", tuple(sorted(self.notes)))

    def to_json(self) -> dict:
        data = {
            "name": self.name,
            "qpm": self.qpm,
            "source": self.source,
            "meta": self.meta,
            "notes": [[n.onset, n.duration, n.pitch, n.velocity] for n in self.notes],
        }
        if self.streams:
            data["streams"] = [[[o, list(p)] for o, p in part] for part in self.streams]
        return data

    @classmethod
    def from_json(cls, data: dict) -> Piece:
        return cls(
            name=str(data["name"]),
            notes=tuple(Note(*map(int, row)) for row in data["notes"]),
            qpm=float(data.get("qpm", DEFAULT_QPM)),
            source=str(data.get("source", "")),
            meta=dict(data.get("meta", {})),
            streams=tuple(
                tuple((int(o), tuple(int(x) for x in p)) for o, p in part)
                for part in data.get("streams", ())
            ),
        )


def quantize_ticks(value_quarters: float) -> int:
    """Snap a time in quarter notes to the nearer of the sixteenth and triplet grids.

    Mirrors music21's ``quantize(quarterLengthDivisors=(4, 3))``: each grid proposes its
    nearest point, the closer proposal wins and ties go to the sixteenth grid.
    """
    ticks = value_quarters * TICKS_PER_QUARTER
    best = None
    for step in (SIXTEENTH, TRIPLET_EIGHTH):
        candidate = round(ticks / step) * step
        error = abs(candidate - ticks)
        if best is None or error < best[0] - 1e-9:
            best = (error, candidate)
    return int(best[1])
