"""Encryption at rest for provider credentials (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from BENCHLAB_SECRET_KEY, or in embedded mode from `<data_dir>/secret.key`, created on first use
with mode 0600. Replicas sharing a database must share BENCHLAB_SECRET_KEY, or they cannot read each other's
credentials. Plaintext secrets are only ever held in memory for the request that uses them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from pathlib import Path

import jwt
from cryptography.fernet import Fernet, InvalidToken

from benchlab.errors import BenchlabError, ConfigError

KEY_FILE_NAME = "secret.key"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._key = bytes(key)

    def derive(self, label: str) -> bytes:
        """A 32-byte key for one purpose (e.g. signing session tokens), independent of the others."""
        return hmac.new(self._key, label.encode(), hashlib.sha256).digest()

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode()
        except InvalidToken:
            raise BenchlabError(
                "a stored credential cannot be decrypted with this server's key; set BENCHLAB_SECRET_KEY to the "
                "key it was stored with, or store the credential again") from None

    def __repr__(self) -> str:
        return "SecretBox(***)"


def load_secret_box(configured_key: str | None, data_dir: Path) -> SecretBox:
    if configured_key:
        try:
            return SecretBox(configured_key.encode())
        except ValueError:
            raise ConfigError("BENCHLAB_SECRET_KEY", "must be a Fernet key: 32 url-safe base64-encoded bytes "
                              "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key()"
                              ".decode())')") from None
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
    return SecretBox(path.read_bytes().strip())


WORKER_TOKEN_PREFIX = "blw_"
_WORKER_TOKEN_LABEL = "worker-token"
_WORKER_AUDIENCE = "benchlab-worker"


def mint_worker_token(box: SecretBox, worker: str, ttl_s: int = 300) -> str:
    """A short-lived credential a worker makes for itself from the shared secret key: workers already hold
    that key (they decrypt provider credentials), so no token has to be handed out or rotated."""
    now = int(time.time())
    claims = {"sub": worker, "aud": _WORKER_AUDIENCE, "iat": now, "exp": now + ttl_s}
    return WORKER_TOKEN_PREFIX + jwt.encode(claims, box.derive(_WORKER_TOKEN_LABEL), algorithm="HS256")


def verify_worker_token(box: SecretBox, token: str) -> str:
    """The worker's name; BenchlabError when the token is not one this key signed, or it expired."""
    try:
        claims = jwt.decode(token.removeprefix(WORKER_TOKEN_PREFIX), box.derive(_WORKER_TOKEN_LABEL),
                            algorithms=["HS256"], audience=_WORKER_AUDIENCE, options={"require": ["exp", "sub"]})
    except jwt.PyJWTError as exc:
        raise BenchlabError(f"invalid worker token ({exc}); the worker must run with the server's "
                            "BENCHLAB_SECRET_KEY") from None
    return str(claims["sub"])
