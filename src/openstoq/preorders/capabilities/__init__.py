"""Offer capabilities: each one file (its block model, its named actions, its declarations),
built on ``base`` and listed by the preorders feature; adding one touches nothing else."""
