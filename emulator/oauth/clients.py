"""Client registry and client authentication (RFC 6749 §2.3.1, bshaffer's HttpBasic rules).

Secrets are stored as salted scrypt hashes (werkzeug), which makes offline guessing slow
even for short legacy secrets like "201010425". Checking scrypt on every token request
would cap the token endpoint at a few dozen requests per second per core, so a secret that
has been verified once is remembered in this process only, as an HMAC under a random key
that never leaves memory, bound to the stored hash (a secret change invalidates it).
A wrong secret always pays the full scrypt cost.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from emulator.models import ApiProduct
from emulator.models import Client
from emulator.models import client_products
from emulator.oauth.errors import InvalidClient
from emulator.oauth.scopes import validate_scope_name

SECRET_HASH_METHOD = "scrypt:32768:8:1"

# A hash no secret matches, checked for unknown clients so that both failures cost the same.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16), method=SECRET_HASH_METHOD)

KNOWN_GRANT_TYPES = ("client_credentials", "refresh_token")


@dataclass(frozen=True)
class ClientRecord:
    """What the token path needs of a client, read with one Core query (no ORM overhead)."""

    id: int
    client_id: str
    secret_hash: str | None
    grant_types: str | None
    scope: str | None
    user_id: str | None

    @property
    def is_public(self) -> bool:
        """A public client has no secret."""
        return self.secret_hash is None


_CLIENTS = Client.__table__
_LOAD_CLIENT = select(
    _CLIENTS.c.id,
    _CLIENTS.c.client_id,
    _CLIENTS.c.secret_hash,
    _CLIENTS.c.grant_types,
    _CLIENTS.c.scope,
    _CLIENTS.c.user_id,
).where(_CLIENTS.c.client_id == bindparam("client_id"))


class ClientCache:
    """Client records this worker read recently, for at most ``max_age`` seconds.

    Spares the token endpoint a query per request. An admin's change to a client (a new
    secret, other scopes) reaches every worker within ``max_age``. 0 disables it.
    """

    def __init__(self, max_age: float = 1.0, max_size: int = 10_000) -> None:
        self.max_age = max_age
        self.max_size = max_size
        self._records: dict[str, tuple[float, ClientRecord | None]] = {}

    def load(self, session: Session | Connection, client_id: str) -> ClientRecord | None:
        """The client's record, from this cache when fresh enough, else from the database."""
        now = time.monotonic()
        entry = self._records.get(client_id)
        if entry is not None and now - entry[0] < self.max_age:
            return entry[1]
        record = load_client(session, client_id)
        if self.max_age > 0 and record is not None:
            if len(self._records) >= self.max_size:
                self._records.clear()
            self._records[client_id] = (now, record)
        return record


def load_client(session: Session | Connection, client_id: str) -> ClientRecord | None:
    """Return the client with exactly this client_id (case-sensitive), or None."""
    if "\0" in client_id:  # no client id holds one, and PostgreSQL refuses it in text
        return None
    row = session.execute(_LOAD_CLIENT, {"client_id": client_id}).first()
    return None if row is None else ClientRecord(*row)


@dataclass(frozen=True)
class ClientCredentials:
    """What a request presented to authenticate a client.

    ``client_secret`` is kept as it arrived (a JSON body may carry ``true`` or ``0``):
    only a non-empty string can ever match.
    """

    client_id: str
    client_secret: object = None


class SecretCache:
    """Verified secrets of this process, as HMACs bound to the stored hash."""

    def __init__(self, max_size: int = 4096) -> None:
        self._key = secrets.token_bytes(32)
        self._max_size = max_size
        self._digests: dict[tuple[int, str], bytes] = {}
        self._lock = threading.Lock()

    def _digest(self, secret: str) -> bytes:
        return hmac.new(self._key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()

    def verify(self, client: Client | ClientRecord, secret: str) -> bool:
        """Return whether ``secret`` is the client's secret, in constant time per path."""
        if client.secret_hash is None:
            return False
        key = (client.id, client.secret_hash)
        digest = self._digest(secret)
        cached = self._digests.get(key)
        if cached is not None and hmac.compare_digest(cached, digest):
            return True
        if not check_password_hash(client.secret_hash, secret):
            return False
        with self._lock:
            if len(self._digests) >= self._max_size:
                self._digests.clear()
            self._digests[key] = digest
        return True


secret_cache = SecretCache()


def hash_secret(secret: str) -> str:
    """Return the salted scrypt hash stored for a client secret."""
    return generate_password_hash(secret, method=SECRET_HASH_METHOD)


def find_client(session: Session, client_id: str) -> Client | None:
    """Return the client model with exactly this client_id, for admin work (CLI)."""
    return session.scalar(select(Client).where(Client.client_id == client_id))


def authenticate_client(
    session: Session,
    credentials: ClientCredentials | None,
    *,
    allow_public: bool,
    body_allowed: bool = True,
    cache: ClientCache | None = None,
) -> ClientRecord:
    """Return the authenticated client or raise InvalidClient (bshaffer HttpBasic order).

    ``reason`` tells dialects which failure it was: ``missing`` (no credentials),
    ``secret_required`` (no secret where one is required, or a secret-less request for
    a client that is not public), ``unknown_client`` or
    ``wrong_secret`` (one description for both; a dialect that told them apart, like
    Apigee's, may say which).
    """
    if credentials is None:
        where = "headers or body" if body_allowed else "headers"
        raise InvalidClient(f"Client credentials were not found in the {where}", reason="missing")
    secret = credentials.client_secret
    if secret is None or secret == "" or secret is False:
        if not allow_public:
            raise InvalidClient("client credentials are required", reason="secret_required")
        client = _load(session, credentials.client_id, cache)
        if client is None or not client.is_public:
            raise InvalidClient(
                "This client is invalid or must authenticate using a client secret",
                reason="secret_required",
            )
        return client
    client = _load(session, credentials.client_id, cache)
    if client is None:
        check_password_hash(_DUMMY_HASH, secret if isinstance(secret, str) else "")
        raise InvalidClient("The client credentials are invalid", reason="unknown_client")
    # PHP's loose == let `true` match any secret; nothing but a string does here. A NUL
    # can never be part of a secret: scrypt's HMAC pads keys with zeros, so "s" and
    # "s\0" would hash alike.
    if not isinstance(secret, str) or "\0" in secret or not secret_cache.verify(client, secret):
        raise InvalidClient("The client credentials are invalid", reason="wrong_secret")
    return client


def _load(
    session: Session | Connection, client_id: str, cache: ClientCache | None
) -> ClientRecord | None:
    return cache.load(session, client_id) if cache is not None else load_client(session, client_id)


def client_allows_grant(client: Client | ClientRecord, grant_type: str) -> bool:
    """Return whether the client may use the grant: None allows all, "" allows none."""
    if client.grant_types is None:
        return True
    return grant_type in client.grant_types.split(" ")


def client_scope(session: Session, client: Client | ClientRecord) -> str | None:
    """Return the scope a client may ask for: its own scope, else the union of its API
    products' scopes (in product order), else None (an empty scope counts as none)."""
    if client.scope:
        return client.scope
    product_scopes = session.scalars(
        select(ApiProduct.__table__.c.scopes)
        .join(client_products, client_products.c.product_id == ApiProduct.__table__.c.id)
        .where(client_products.c.client_id == client.id)
        .order_by(client_products.c.position)
    )
    names: list[str] = []
    for scopes in product_scopes:
        for name in (scopes or "").split():
            if name not in names:
                names.append(name)
    return " ".join(names) or None


def register_client(
    session: Session,
    client_id: str,
    *,
    secret: str | None,
    scope: str | None = None,
    grant_types: str | None = None,
    redirect_uri: str = "",
    user_id: str | None = None,
    now: datetime,
) -> Client:
    """Register a client; ``secret=None`` makes a public client. Raises ValueError on bad input."""
    if not client_id or len(client_id) > 80 or client_id != client_id.strip():
        raise ValueError("client_id must be 1 to 80 characters without leading or trailing spaces.")
    if find_client(session, client_id) is not None:
        raise ValueError(f"A client {client_id!r} already exists.")
    if secret is not None and secret == "":
        raise ValueError("An empty secret is not a secret; use --public for a public client.")
    if scope is not None:
        for name in scope.split(" "):
            validate_scope_name(name)
    if grant_types is not None:
        unknown = [g for g in grant_types.split() if g not in KNOWN_GRANT_TYPES]
        if unknown:
            raise ValueError(
                f"Unknown grant type(s): {' '.join(unknown)}. Known: {' '.join(KNOWN_GRANT_TYPES)}."
            )
        grant_types = " ".join(grant_types.split())
    client = Client(
        client_id=client_id,
        secret_hash=None if secret is None else hash_secret(secret),
        scope=scope or None,
        grant_types=grant_types,
        redirect_uri=redirect_uri,
        user_id=user_id,
        created_at=now,
        app_id=str(uuid.uuid4()),
    )
    session.add(client)
    return client


def add_product(session: Session, name: str, scopes: str | None = None) -> ApiProduct:
    """Add an API product, or replace the scopes of an existing one."""
    if not name or len(name) > 255:
        raise ValueError("A product name is 1 to 255 characters.")
    names = (scopes or "").split()
    for scope in names:
        validate_scope_name(scope)
    product = session.scalar(select(ApiProduct).where(ApiProduct.name == name))
    if product is None:
        product = ApiProduct(name=name)
        session.add(product)
    product.scopes = " ".join(names) or None
    return product


def set_app(
    session: Session, client: Client, *, developer_email: str | None, product_names: list[str]
) -> Client:
    """Make the client an Apigee-style app: its developer's email and its products, in order."""
    if developer_email is not None and "@" not in developer_email:
        raise ValueError(f"{developer_email!r} is not an email address.")
    products = []
    for name in product_names:
        product = session.scalar(select(ApiProduct).where(ApiProduct.name == name))
        if product is None:
            raise ValueError(f"No API product {name!r}; add it first.")
        products.append(product)
    client.developer_email = developer_email
    client.products = []
    session.flush()
    client.products = products
    session.flush()
    for position, product in enumerate(products):
        session.execute(
            client_products.update()
            .where(
                client_products.c.client_id == client.id, client_products.c.product_id == product.id
            )
            .values(position=position)
        )
    return client
