"""The one cursor codec: query cursors (``last_evaluated_key``/``start_key``) and search cursors.

A cursor is an opaque string the library hands out and takes back. It is the authenticated
encryption of a compact JSON payload (a query's start key, a search's bucket positions), so it
shows nothing — not the tenant id, not a key value — and any change to it is refused:

    cursor = base64url(version byte ‖ 96-bit nonce ‖ AES-256-GCM(payload) ‖ 128-bit tag)

The associated data (authenticated, not stored) binds the version byte, the kind
(``"query"``, ``"search"``), the tenant (JSON ``null`` when there is none), the model and the
scope (the index for a query; the query digest and the buckets for a search). A cursor used
under another tenant, model, index, query or scope fails authentication. Every decoding
failure — not a str, too long, not canonical base64url, too short, another version, a failed
tag, bad JSON, a payload of the wrong shape, a start key of another index or partition — is the
same :class:`QueryError` (:func:`invalid`), which does not say which check failed, and is
raised before any request.

The key:

* With ``cursors.secret`` (``DYNAMO_BAO_CURSOR_SECRET``) set, the AES key is derived from it
  with HKDF-SHA256 (fixed info label), so a cursor stays valid in every process that shares
  the secret (Lambda, several workers, restarts). AES-GCM's tag is the signature the issue
  asks for (an HMAC would only add a second key to manage; the tag already authenticates).
* Without a secret, each process makes a random key when this module is imported: **a cursor
  works only in the process that issued it, until that process exits.** Set ``cursors.secret``
  for several processes, Lambda, or cursors that must survive restarts.

Decisions:

* A secret is a str of at least 16 characters or bytes of at least 16 bytes
  (:data:`MIN_SECRET_LENGTH`); anything else is a :class:`ConfigurationError` when the
  configuration is loaded (``init_models``), and again here for a ``Config`` made by hand.
* The nonce is random (``os.urandom``) per cursor, so a forked child keeps issuing distinct
  nonces. 96-bit random nonces under one key are safe for about 2**32 cursors; an attacker
  would have to collect ~2**48 cursors to expect one repeat among those they see. Rotate the
  secret if a fleet issues billions of cursors.
* The version byte is both in clear (to recognise future formats) and in the associated data.
* Base64url without padding, checked canonical (re-encoding must give back the input): a
  changed padding bit or an inserted non-alphabet character is a change, not an alias.
* Cursors are at most :data:`MAX_CURSOR_LENGTH` characters; longer input is refused unread.
* The model a cursor is bound to is ``"ClassName/prefix"`` (:func:`model_label`); a query's
  scope is the index name it was made for (``"primaryKey"`` for the table key).
* There is no cursor of iteration: ``iterate_all`` returns an iterator that keeps its
  positions in memory. The kinds in use are ``"query"`` and ``"search"``.
* Payload shapes are checked by the callers (:mod:`dynamo_bao.query`, :mod:`dynamo_bao.search`),
  which raise :func:`invalid` too, so one message covers every failure.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .exceptions import ConfigurationError, QueryError

__all__ = [
    "MIN_SECRET_LENGTH",
    "MAX_CURSOR_LENGTH",
    "check_secret",
    "encode",
    "decode",
    "invalid",
    "model_label",
    "new_process_key",
]

VERSION = 1
MIN_SECRET_LENGTH = 16
#: Longest cursor accepted (characters): above any cursor this library makes (a search over
#: 1000 buckets resuming after ids of the longest keys, JSON-escaped), so it only bounds the
#: work spent on junk.
MAX_CURSOR_LENGTH = 32 * 1024 * 1024
_NONCE = 12
_TAG = 16
_HKDF_INFO = b"dynamo-bao cursor key v1"
_MESSAGE = (
    "invalid cursor: pass a cursor this library issued for the same tenant, model and "
    "query or search, unchanged (without cursors.secret a cursor is valid only in the "
    "process that issued it)"
)


def invalid() -> QueryError:
    """The one error of every cursor that cannot be used (it does not say why)."""
    return QueryError(_MESSAGE)


def check_secret(secret: Any) -> str | bytes | None:
    """``secret`` if it is None or a usable secret, else a ConfigurationError (which shows
    its type and length, never the secret)."""
    if secret is None:
        return None
    if not isinstance(secret, (str, bytes)) or len(secret) < MIN_SECRET_LENGTH:
        got = type(secret).__name__
        if isinstance(secret, (str, bytes)):
            got += f" of length {len(secret)}"
        raise ConfigurationError(
            "cursors.secret (DYNAMO_BAO_CURSOR_SECRET) must be a string of at least "
            f"{MIN_SECRET_LENGTH} characters (or {MIN_SECRET_LENGTH} bytes), got {got}"
        )
    return secret


@functools.lru_cache(maxsize=32)
def _derived(secret: bytes) -> AESGCM:
    key = HKDF(algorithm=SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)
    return AESGCM(key)


_process_aead = AESGCM(AESGCM.generate_key(bit_length=256))


def new_process_key() -> None:
    """Replace this process's random key: every secret-less cursor issued so far stops working,
    as when the process exits (tests use it to simulate another process)."""
    global _process_aead
    _process_aead = AESGCM(AESGCM.generate_key(bit_length=256))


def _aead(source: Any) -> AESGCM:
    """The cipher of a manager (or its Config): from its secret, else the process key."""
    config = getattr(source, "config", source)
    secret = check_secret(getattr(config, "cursor_secret", None))
    if secret is None:
        return _process_aead
    return _derived(secret.encode() if isinstance(secret, str) else secret)


def model_label(cls: Any) -> str:
    """What a cursor binds as its model: the class name and its prefix (unique in a table)."""
    return f"{cls.__name__}/{cls._schema.prefix}"


def _associated(kind: str, tenant: str | None, model: str, scope: Any) -> bytes:
    bound = json.dumps([kind, tenant, model, scope], separators=(",", ":"), ensure_ascii=False)
    return bytes([VERSION]) + bound.encode()


def encode(
    source: Any, kind: str, tenant: str | None, model: str, scope: Any, payload: Any
) -> str:
    """The cursor of ``payload`` (JSON-able) for this kind, tenant, model and scope
    (JSON-able); ``source`` is the manager (its ``config.cursor_secret``)."""
    plain = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    nonce = os.urandom(_NONCE)
    sealed = _aead(source).encrypt(nonce, plain, _associated(kind, tenant, model, scope))
    raw = bytes([VERSION]) + nonce + sealed
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(
    source: Any, kind: str, tenant: str | None, model: str, scope: Any, cursor: Any
) -> Any:
    """The payload of a cursor :func:`encode` made with the same key, kind, tenant, model and
    scope; anything else is :func:`invalid`."""
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR_LENGTH:
        raise invalid()
    try:
        text = cursor.encode("ascii")
        raw = base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise invalid() from None
    if (
        len(raw) < 1 + _NONCE + _TAG
        or raw[0] != VERSION
        or base64.urlsafe_b64encode(raw).rstrip(b"=") != text
    ):
        raise invalid()
    aead = _aead(source)  # a bad secret is a ConfigurationError, not a bad cursor
    try:
        plain = aead.decrypt(
            raw[1 : 1 + _NONCE], raw[1 + _NONCE :], _associated(kind, tenant, model, scope)
        )
        return json.loads(plain)
    except (InvalidTag, ValueError):
        raise invalid() from None
