"""The ingest feature: the platform's webhook topics and what they do to the mirror."""

from __future__ import annotations

from openstoq.feature import Feature
from openstoq.inbound.topics import TOPICS

FEATURE = Feature(name="ingest", topics=TOPICS)
