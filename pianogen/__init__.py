"""pianogen: LSTM and GRU piano music generation per artist, as a reproducible study."""

__version__ = "0.2.0"
