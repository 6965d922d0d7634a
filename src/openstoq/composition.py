"""The composition root: the features every openstoq process is built from, in one list.

Every process (``serve``, ``worker``, ``mcp``, each CLI command, the tests) builds its runtime here,
so all of them see the same actions, capabilities, job kinds, topics, outbox commands and duties.
"""

from __future__ import annotations

from typing import Any

from openstoq.feature import Feature, Features
from openstoq.inbound.feature import FEATURE as INGEST
from openstoq.preorders.feature import FEATURE as PREORDERS
from openstoq.runtime import Runtime
from openstoq.settings import Settings

FEATURES: tuple[Feature, ...] = (PREORDERS, INGEST)


def build_features(*extra: Feature) -> Features:
    """The product's features, plus ``extra`` ones (tests declare their own actions this way)."""
    return Features((*FEATURES, *extra))


def build_runtime(settings: Settings, *extra: Feature, **options: Any) -> Runtime:
    """The runtime of one process: the composed features on the configured database."""
    return Runtime(settings, build_features(*extra), **options)
