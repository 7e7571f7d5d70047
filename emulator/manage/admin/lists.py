"""The clients and users lists' query strings: search, sort, filters.

Every choice travels in the query string, so paging keeps it and a list can be bookmarked.
A value that is not one of the choices is named in a message and left out, never a 500.
The plugins' marks (``Plugin.client_marks``) are filters like the others, keyed
``<plugin>.<mark>``; the host knows them only by their labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from emulator.oauth import has_control_characters
from emulator.web.plugin import ClientMark

# Sortable columns, by the query string's word, with their headers.
SORTS = {"client_id": "Client id", "created": "Created", "state": "State", "type": "Type"}
STATES = {"enabled": False, "disabled": True}  # the word -> Client.disabled
TYPES = {"confidential": False, "public": True}  # the word -> is public
MARKED = {"yes": True, "no": False}


@dataclass(frozen=True)
class ClientQuery:
    """What the clients list shows: the defaults show every client by id."""

    search: str = ""
    sort: str = "client_id"
    descending: bool = False
    state: str = ""  # "", or a key of STATES
    kind: str = ""  # "", or a key of TYPES
    marks: Mapping[str, str] = field(default_factory=dict)  # mark key -> "yes" / "no"
    refused_search: bool = False  # a search that cannot be one: the list shows nothing

    def args(self, **changes: str) -> dict[str, str]:
        """The query string that asks for this list again, with ``changes`` (sort, dir)."""
        values = {
            "q": self.search,
            "sort": self.sort if self.sort != "client_id" else "",
            "dir": "desc" if self.descending else "",
            "state": self.state,
            "type": self.kind,
            **self.marks,
            **changes,
        }
        return {key: value for key, value in values.items() if value}

    def order_args(self) -> dict[str, str]:
        """The query string of this order alone (every filter cleared)."""
        return ClientQuery(sort=self.sort, descending=self.descending).args()

    def is_filtered(self) -> bool:
        """Whether anything but the order narrows the list."""
        return bool(self.search or self.state or self.kind or self.marks)

    def sort_args(self, key: str) -> dict[str, str]:
        """The query string of a column header: by that column, or the other way round."""
        descending = key == self.sort and not self.descending
        return self.args(sort=key if key != "client_id" else "", dir="desc" if descending else "")

    def list_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``actions.list_clients``."""
        return {
            "search": self.search,
            "sort": self.sort,
            "descending": self.descending,
            "disabled": STATES.get(self.state),
            "public": TYPES.get(self.kind),
            "marks": {key: MARKED[value] for key, value in self.marks.items()},
        }


def parse_query(
    args: Mapping[str, str], marks: Mapping[str, ClientMark]
) -> tuple[ClientQuery, list[str]]:
    """The list a query string asks for, and a message for each value refused."""
    problems: list[str] = []
    search = (args.get("q") or "").strip()[:200]
    refused_search = has_control_characters(search)
    if refused_search:
        problems.append("A search cannot hold a control character (such as NUL or a line break).")
        search = ""

    def choice(name: str, label: str, allowed: Mapping[str, Any]) -> str:
        value = (args.get(name) or "").strip()
        if value and value not in allowed:
            words = ", ".join(allowed)
            problems.append(f"{label} is one of: {words}; “{value[:40]}” was left out.")
            return ""
        return value

    sort = choice("sort", "The sort", SORTS) or "client_id"
    direction = choice("dir", "The order", {"asc": 0, "desc": 0})
    chosen_marks = {}
    for key, mark in marks.items():
        value = choice(key, f"The {mark.label} filter", MARKED)
        if value:
            chosen_marks[key] = value
    query = ClientQuery(
        search=search,
        sort=sort,
        descending=direction == "desc",
        state=choice("state", "The state", STATES),
        kind=choice("type", "The type", TYPES),
        marks=chosen_marks,
        refused_search=refused_search,
    )
    return query, problems


# --- the users list ----------------------------------------------------------------------

BLOCKED = {"yes": True, "no": False}  # the word -> SiteUser.blocked


@dataclass(frozen=True)
class UserQuery:
    """What the users list shows: the defaults show every user by username."""

    search: str = ""
    blocked: str = ""  # "", or a key of BLOCKED
    refused_search: bool = False  # a search that cannot be one: the list shows nothing

    def args(self) -> dict[str, str]:
        """The query string that asks for this list again (paging keeps it)."""
        return {
            key: value for key, value in (("q", self.search), ("blocked", self.blocked)) if value
        }

    def is_filtered(self) -> bool:
        """Whether anything narrows the list."""
        return bool(self.search or self.blocked)

    def list_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``actions.list_users``."""
        return {"search": self.search, "blocked": BLOCKED.get(self.blocked)}


def parse_user_query(args: Mapping[str, str]) -> tuple[UserQuery, list[str]]:
    """The users list a query string asks for, and a message for each value refused."""
    problems: list[str] = []
    search = (args.get("q") or "").strip()[:200]
    refused_search = has_control_characters(search)
    if refused_search:
        problems.append("A search cannot hold a control character (such as NUL or a line break).")
        search = ""
    blocked = (args.get("blocked") or "").strip()
    if blocked and blocked not in BLOCKED:
        problems.append(f"Blocked is one of: yes, no; “{blocked[:40]}” was left out.")
        blocked = ""
    return UserQuery(search=search, blocked=blocked, refused_search=refused_search), problems
