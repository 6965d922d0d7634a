"""Signed, expiring download links: HMAC-SHA256 over the job id, the file name and the expiry.

The key is ``OPENSTOQ_SECRET_KEY`` or, when unset, one generated once into the data directory
(``secret_key``, mode 0600), so links survive restarts. Several hosts serving one set of exports
must share the key (set the variable).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import datetime
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlencode

from openstoq.errors import Forbidden
from openstoq.settings import Settings

DOWNLOADS = "/downloads"  # under the API base path; the link itself is the credential


def secret_key(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    return _key_file(settings.data_dir.resolve() / "secret_key")


@cache
def _key_file(path: Path) -> bytes:
    """The key in ``path``, written once: the first process to get there wins, the others read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    for _ in range(50):  # a concurrent creator may not have written it yet
        key = path.read_text().strip()
        if key:
            return key.encode()
        os.sched_yield()
    raise RuntimeError(f"{path} is empty; delete it to generate a new download signing key")


def signature(settings: Settings, job_id: str, filename: str, expires: int) -> str:
    message = f"{job_id}\n{filename}\n{expires}".encode()
    return hmac.new(secret_key(settings), message, hashlib.sha256).hexdigest()


def download_url(settings: Settings, job_id: str, filename: str, expires_at: datetime) -> str:
    """Where the export downloads: absolute when ``public_url`` is set, else an absolute path."""
    expires = int(expires_at.timestamp())
    query = urlencode({"expires": expires, "signature": signature(settings, job_id, filename, expires)})
    return f"{settings.base_url}{DOWNLOADS}/{job_id}/{quote(filename)}?{query}"


def verify(settings: Settings, job_id: str, filename: str, expires: str, given: str, now: datetime) -> None:
    """403 unless the link was signed here for exactly this file, and has not expired."""
    if not expires.isdigit() or len(expires) > 12:
        raise Forbidden("This download link is invalid")
    expected = signature(settings, job_id, filename, int(expires))
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Forbidden("This download link is invalid")
    if int(expires) <= now.timestamp():
        raise Forbidden("This download link has expired; export again for a new one")
