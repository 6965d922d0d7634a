"""Durable jobs: bulk actions and exports that run on DBOS workers and report through the ``jobs`` table.

``kinds`` declares what a job does, ``records`` keeps what clients poll (and the batch done-markers
that make every batch exactly-once), ``engine`` binds it all to DBOS, ``exports`` writes CSV files
and serves them through signed, expiring links.
"""
