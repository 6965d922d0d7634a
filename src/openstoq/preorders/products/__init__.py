"""The products capability: which variants an offer covers, and its per-variant overrides
(``models``, ``service``, ``actions``: the resource layout)."""
