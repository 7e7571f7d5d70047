"""What the admin pages show of this plugin: the token request of redCORE's manual, and
which clients the legacy import brought over."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from sqlalchemy import Select
from sqlalchemy import select

from emulator.host import ClientMark
from emulator.host import TokenExample

from .legacy import link
from .models import ImportedClient


def token_examples(
    base_url: str, client_id: str, secret: str | None, _params: Mapping[str, Any]
) -> Sequence[TokenExample]:
    """redCORE's manual, filled in: everything in the query string of a POST.

    Percent-encoded, the URL holds nothing a shell reads inside double quotes.
    """
    credentials = f"&client_id={quote(client_id, safe='')}"
    if secret is not None:
        credentials += f"&client_secret={quote(secret, safe='')}"
    url = f"{base_url}/index.php?option=token&api=oauth2&grant_type=client_credentials{credentials}"
    return (TokenExample(title="redCORE token URL", command=f'curl -X POST "{url}"'),)


def imported_clients() -> Select[tuple[int]]:
    """The clients ``legacy import`` brought over (or found here already, by their id)."""
    return select(ImportedClient.client_id)


imported = ClientMark(
    name="imported",
    label="imported",
    members=imported_clients,
    description="Brought over from the redCORE database by the legacy import.",
)


def facts(session: Any) -> Sequence[tuple[str, str]]:
    """The legacy link on the plugin's page: where it writes (never the password), and the
    mirror writes waiting to land."""
    try:
        joined = link.read_link(session)
    except link.LinkUnreadable as error:
        return (("Legacy link", str(error)),)
    if joined is None:
        return (("Legacy link", "off"),)
    waiting, since, error = link.backlog(session)
    backlog = (
        f"{waiting} mirror writes waiting since {since:%Y-%m-%d %H:%M:%S} UTC ({error})"
        if waiting
        else "none"
    )
    return (
        ("Legacy link", joined.shown),
        ("Old site's tables", f"{joined.prefix}redcore_oauth_access_tokens, ..._refresh_tokens"),
        ("Old site's time zone", joined.zone.key),
        ("Mirror backlog", backlog),
    )
