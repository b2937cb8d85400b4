"""Cache generations: how every process and host notices a change made by another one.

Each shared cache has a row in ``cache_generation``. A change (a deployment, a calendar entry)
adds one to its row in the change's own transaction (``bump``). Each process reads the whole
(tiny) table once per request (``GenerationWatch.check``, one statement) and calls the listeners
of every counter that moved since it last looked: they drop what they cached. No restart, no
message bus, and the bound is "the next request" on every worker of every host sharing the
database; a job worker checks before each batch of jobs it claimed.

Every other per-process cache is keyed by something that never changes, so it needs no
generation: a deployed version's content hash (engine.definitions' parsed specs and forms, the
form classes of webui/form_builder.py), a diagram's XML text (engine.diagram's drawings), or the
code and files of the release itself (the registry's operators and forms, the process catalog).
A new cache of data that can change takes a generation here.
"""
from typing import Callable

from sqlalchemy import String, bindparam, cast, func, insert, literal, select, update

from .db import db
from .models import CacheGeneration

DEFINITIONS = "definitions"   # deployments: current versions, their forms
CALENDAR = "calendar"         # the working calendar: administrators' closed days, extra working days, schedules
WEBHOOKS = "webhooks"         # webhook subscriptions and the tokens they receive with (handlers.webhooks)

_CG = CacheGeneration.__table__
_READ = select(_CG.c.name, _CG.c.generation)
_BUMP = update(_CG).where(_CG.c.name == bindparam("p_name")).values(generation=_CG.c.generation + 1)


def carried():
    """The whole table as one text column, ``name:generation`` joined by commas (NULL when empty), for
    a statement the request makes anyway to carry (the login's, the token's): the request's check then
    needs no statement of its own (``GenerationWatch.check(carried=…)``)."""
    return (select(func.aggregate_strings(_CG.c.name + literal(":") + cast(_CG.c.generation, String), ","))
            .scalar_subquery().label("generations"))


def _parse(text: str | None) -> dict[str, int]:
    out = {}
    for item in (text or "").split(","):
        if item:
            name, _, generation = item.rpartition(":")
            out[name] = int(generation)
    return out


def bump(name: str) -> None:
    """Tell every process that ``name`` changed (inside the caller's transaction)."""
    conn = db.session.connection()
    if conn.execute(_BUMP, {"p_name": name}).rowcount == 0:
        conn.execute(insert(_CG).values(name=name, generation=1))


class GenerationWatch:
    """The generations this process has seen, and who to tell when one moves."""

    def __init__(self):
        self._seen: dict[str, int] = {}
        self._listeners: dict[str, list[Callable[[], None]]] = {}

    def on_change(self, name: str, listener: Callable[[], None]) -> None:
        self._listeners.setdefault(name, []).append(listener)

    def forget(self) -> None:
        """Forget the generations seen: the table was emptied or restored, so its counters started again."""
        self._seen.clear()

    def check(self, carried: str | None = None, read: bool = True) -> list[str]:
        """One read of every counter, or the counters another statement of this request carried
        (``carried``, ``read=False``); the listeners of the moved ones run. Returns the moved names."""
        rows = dict(db.session.connection().execute(_READ).all()) if read else _parse(carried)
        moved = [name for name in self._listeners if rows.get(name, 0) != self._seen.get(name, 0)]
        for name in moved:
            for listener in self._listeners[name]:
                listener()
            self._seen[name] = rows.get(name, 0)
        return moved
