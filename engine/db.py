"""The shared SQLAlchemy handle and database-specific connection setup."""
import functools
from contextlib import contextmanager

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, bindparam, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import MANYTOONE, DeclarativeBase, Session, make_transient, make_transient_to_detached
from sqlalchemy.orm.attributes import NEVER_SET, NO_VALUE, set_committed_value
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from .errors import PendingWork, RollbackOnly

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection, _record):
    # pysqlite opens transactions lazily and breaks SAVEPOINT; take control of
    # BEGIN ourselves (SQLAlchemy's documented recipe), and wait for locks.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")   # durable at checkpoints; safe against corruption in WAL
        cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    if conn.dialect.name == "sqlite":
        # commands take the write lock up front: a deferred transaction that read first and
        # writes later cannot wait for a concurrent writer and fails with "database is locked"
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))


def begin_write() -> None:
    """Start the session's transaction as a write transaction (SQLite: BEGIN IMMEDIATE).

    Never commits: changes made outside a unit of work are a programming error (PendingWork),
    and a read transaction the request opened is ended with a rollback. A write transaction already
    open (begun here, by a request that reads what its command then changes) goes on: what it read
    is current, and stays loaded.
    """
    session = db.session()   # the scoped session's current Session
    if _holds_changes(session):
        raise PendingWork("a unit of work began while the session held uncommitted changes: "
                          "make them inside the unit of work (engine.db.unit_of_work)")
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        if session.info.get(_WRITING):
            return
        session.rollback()   # a read transaction: nothing to keep
    session.connection(execution_options={"sqlite_begin": "BEGIN IMMEDIATE"})
    session.info[_WRITING] = True


_DEPTH, _ROLLBACK_ONLY, _WROTE, _REHEARSAL = "uow_depth", "uow_rollback_only", "uow_wrote", "uow_rehearsal"
_WRITING = "uow_writing"   # SQLite: the session's transaction began as a write transaction (begin_write)
_COMMANDS_END = "uow_commands_end"
_ADOPTED = "rehearsal_adopted"   # objects a rehearsal read, held for the caller's session (adopt)
_KEPT = "uow_call_kept"   # the domain objects a call unit's commands loaded, held until the call ends
_STEPS = "uow_call_steps"


@contextmanager
def unit_of_work():
    """One action = one transaction: open a unit of work, or join the one already open.

    The outermost block begins a write transaction and commits on success; any exception
    rolls everything back. Inner blocks join the open transaction, as Camunda's
    CommandContextInterceptor does, so nested service calls never commit half an action.
    An exception leaving an inner block marks the unit rollback-only: an outer block that
    swallows it cannot commit what is left (RollbackOnly, after a rollback).
    """
    session = db.session()
    info = session.info   # the depth lives on the (thread-scoped) session
    depth = info.get(_DEPTH, 0)
    if depth == 0:
        begin_write()
        info[_ROLLBACK_ONLY] = False
    info[_DEPTH] = depth + 1
    try:
        yield
        if depth == 0:
            if info[_ROLLBACK_ONLY]:
                raise RollbackOnly()
            session.commit()
        elif depth == info.get(_COMMANDS_END):
            # a command joined a call's unit (``call_unit``): it ends flushed, with the engine's own
            # rows expired, so what the caller reads next is what the command wrote (see call_unit)
            session.flush()
            _expire_engine_rows(session)
    except BaseException:
        if depth == 0:
            session.rollback()
        else:
            info[_ROLLBACK_ONLY] = True
        raise
    finally:
        info[_DEPTH] = depth


@contextmanager
def call_unit():
    """A unit of work around a whole call that runs commands and then reads what they did (the
    JSON API's calls that write, so that the call's own rows commit with its command's).

    Each command that joins it directly ends flushed, so the reads after it see what it wrote, as
    they did when it committed a transaction of its own. The engine writes its rows (instances,
    tasks, their candidates, the log) with Core statements, so a loaded one may be older than its
    row: those are expired, as a commit would have expired them. The domain's objects (the
    application, its person, project, lock records) were written through this session and hold what
    their rows hold (a column the database fills is expired by the flush itself): the call's answer
    reads them without loading them again."""
    with unit_of_work():
        info = db.session.info
        info[_COMMANDS_END] = info[_DEPTH]   # the depth a command joining it directly sees
        info[_STEPS] = []
        try:
            yield
        finally:
            info.pop(_COMMANDS_END, None)
            info.pop(_STEPS, None)
            info.pop(_KEPT, None)


ENGINE_MODELS = "engine.models"   # the module of the rows the engine writes with Core statements


def _expire_engine_rows(session) -> None:
    kept = session.info.setdefault(_KEPT, [])
    for state in list(session.identity_map.all_states()):
        obj = state.obj()
        if obj is None:
            continue
        if type(obj).__module__ == ENGINE_MODELS:
            session.expire(obj)
            continue
        # a collection (or the one row on the other side) may have gained or lost rows the command
        # wrote from that side (an addition to a rating): read again when asked for; the columns and
        # the many-to-one references (their foreign keys are columns here) are what the session wrote
        related = [k for k in _relationship_keys(state.mapper) if k in state.dict]
        if related:
            session.expire(obj, related)
        # the session holds its objects weakly: one the command loaded and let go of would be gone,
        # and read again, when the call's answer asks the session for it
        kept.append(obj)


@functools.lru_cache(maxsize=None)
def _relationship_keys(mapper) -> tuple:
    """The relationships whose rows hold the foreign key (one-to-many, many-to-many)."""
    return tuple(r.key for r in mapper.relationships if r.direction is not MANYTOONE)


def note_step(result, started: bool) -> None:
    """Keep an engine command's StepResult (``started``: the command that created its instance) for
    the call unit around it (``call_steps``); outside one, or in a rehearsal that will be rolled back,
    nothing is kept."""
    steps = db.session.info.get(_STEPS)
    if steps is not None and not in_dry_run():
        steps.append((started, result))


def call_steps(instance_id: int) -> list[tuple[bool, object]]:
    """(started, StepResult) of each engine command that ran ``instance_id``'s workflow in the open
    call unit (``call_unit``), in order; empty outside one."""
    return [(started, r) for started, r in db.session.info.get(_STEPS, ()) if r.instance.id == instance_id]


@contextmanager
def dry_run():
    """Rehearse work that must leave no trace: it runs in a savepoint that is always rolled back
    (``rehearse`` first tries without one, and comes here for a rehearsal that must write).

    Inside an open unit of work it joins it. Outside one, on PostgreSQL, the rehearsal runs in the
    request's own (read) transaction and nothing is committed: a commit would end the snapshot and
    expire every object the request already loaded, so the page would read them all again. Inner
    commands join (the depth is held), and the unit's flags are as they were afterwards. SQLite
    cannot turn a read transaction into a write one reliably (a stale WAL snapshot fails at once
    instead of waiting), so there the rehearsal is a unit of work of its own, as any write is; when
    the request already reads in a transaction, in a session and connection of its own, so that the
    page's transaction and what it loaded stay as they are (``adopt`` hands a row the rehearsal read
    to the page). A request that already writes (``begin_write``) rehearses in its own transaction.
    """
    session = db.session()
    info = session.info
    if info.get(_DEPTH, 0):
        with unit_of_work():
            with _rolled_back_savepoint(session):
                yield
        return
    if session.get_bind().dialect.name == "sqlite":
        if _holds_changes(session):
            raise PendingWork("a dry run began while the session held uncommitted changes")
        if session.in_transaction() and not session.info.get(_WRITING) and _pooled(session):
            # the page's read transaction cannot become the write transaction a rehearsal needs
            # without ending it, which expires everything the page loaded: the rehearsal takes a
            # session and connection of its own, and the page's stay as they are
            with _session_of_its_own():
                with dry_run():
                    yield
            return
        # the unit commits nothing (its savepoint is rolled back), so its commit need not expire
        # what was loaded in it: the page goes on with the rows as the rehearsal read them
        expire, session.expire_on_commit = session.expire_on_commit, False
        try:
            with unit_of_work():
                with _rolled_back_savepoint(session):
                    yield
        finally:
            session.expire_on_commit = expire
        return
    if _holds_changes(session):
        raise PendingWork("a dry run began while the session held uncommitted changes")
    info[_DEPTH], info[_ROLLBACK_ONLY] = 1, False
    try:
        with _rolled_back_savepoint(session):
            yield
    finally:
        info[_DEPTH] = 0
        info.pop(_ROLLBACK_ONLY, None)
        info.pop(_WROTE, None)   # what the savepoint flushed is undone


def adopt(obj):
    """An object a rehearsal read (``dry_run``), in the caller's session: on SQLite the rehearsal had a
    session of its own, and its unchanged rows are taken over as loaded, without reading them again."""
    session = db.session()
    if obj is None or obj in session:
        return obj
    adopted = session.merge(obj, load=False)
    session.info.setdefault(_ADOPTED, []).append(adopted)   # the session holds objects weakly
    return adopted


def _pooled(session) -> bool:
    """Whether the engine can give a second connection (not one connection shared by everything,
    as an in-memory database's StaticPool is)."""
    return not isinstance(session.get_bind().pool, (StaticPool, SingletonThreadPool))


@contextmanager
def _session_of_its_own():
    """``db.session`` is a new session (its own connection) inside the block, the caller's again after."""
    registry = db.session.registry
    caller = registry()
    own = db.session.session_factory()
    registry.set(own)
    try:
        yield
    finally:
        registry.set(caller)
        own.close()


@contextmanager
def _rolled_back_savepoint(session):
    marked = is_rollback_only()
    savepoint = session.begin_nested()   # flushes first: what is loaded now is what the rows hold
    loaded = _loaded_columns(session)
    driver = session.connection().connection.driver_connection
    rehearsing = session.info.get(_REHEARSAL)
    session.info[_REHEARSAL] = object()   # this rehearsal (``current_rehearsal``)
    try:
        yield
    finally:
        session.info[_REHEARSAL] = rehearsing
        with _statements_stay_prepared(driver):
            savepoint.rollback()
        _restore_columns(session, loaded)
        restore_rollback_only(marked)   # the undone work's failures are undone with it


@contextmanager
def _statements_stay_prepared(driver):
    """Keep the connection's prepared statements through a rehearsal's ROLLBACK TO SAVEPOINT.

    psycopg forgets every statement it prepared, and deallocates them all on the server, when it
    sees a ROLLBACK, that of a savepoint included: one rolled back might have dropped an object a
    statement refers to. A rehearsal runs no DDL, and PREPARE is not transactional, so nothing it
    undoes touches a prepared statement; without this, every page with a preview (the detail page,
    the task page) made the worker plan every statement again, the application's eight-way join
    (~2 ms to plan, ~0.3 ms to run) on each of its next five runs. psycopg does not look at what a
    statement did while preparing is off (``prepare_threshold`` None), so it is off for the one
    statement. Other drivers have no such setting and are left alone.
    """
    threshold = getattr(driver, "prepare_threshold", None)
    if threshold is None:
        yield
        return
    driver.prepare_threshold = None
    try:
        yield
    finally:
        driver.prepare_threshold = threshold


def _still_here(value, session) -> bool:
    state = getattr(value, "_sa_instance_state", None)
    return state is None or (state.session_id == session.hash_key and state.key is not None)


def _loaded_columns(session) -> list:
    """Each persistent object's loaded columns and references, as the rows hold them before a rehearsal."""
    out = []
    for state in session.identity_map.all_states():
        keys = _column_keys(state.mapper)
        out.append((state, {k: v for k, v in state.dict.items() if k in keys}))
    return out


@functools.lru_cache(maxsize=None)
def _column_keys(mapper) -> frozenset:
    """The attributes a rehearsal can give back: columns and many-to-one references (a collection
    may have been changed in place, so it is read again)."""
    return frozenset([a.key for a in mapper.column_attrs] + [r.key for r in mapper.relationships if not r.uselist])


def _restore_columns(session, loaded) -> None:
    """Give the objects a rolled-back savepoint expired their columns back without reading them again.

    The rollback restored every row the rehearsal wrote to what it held before, which is what the
    objects had loaded then: the page goes on with them instead of one SELECT per object it shows
    again. A reference is given back only while its object is still in the session; collections and
    the objects the rehearsal loaded for the first time stay as the rollback left them.
    """
    for state, columns in loaded:
        expired = state.expired_attributes
        if not expired or state.session_id != session.hash_key or state.key is None:
            continue
        back = [k for k, v in columns.items() if k in expired and _still_here(v, session)]
        if back:
            state.dict.update((k, columns[k]) for k in back)
            state._commit(state.dict, back)


def in_dry_run(session=None) -> bool:
    """Whether the work now running is a rehearsal (``rehearse``, ``dry_run``) that leaves no trace
    (``session``: the session at hand, in a session event; default the request's)."""
    return current_rehearsal(session) is not None


def changes_kept_in_session(session=None) -> bool:
    """Whether a rehearsal may keep its changes in the session instead of writing them: it runs, and
    has only changed rows it loaded (none added or deleted, whose defaults and ids a flush makes).
    The preview's recorder then reads them without a flush, and what reads after it (the counted
    projects) takes each row as the session holds it."""
    session = session if session is not None else db.session()
    return in_dry_run(session) and not (session.new or session.deleted)


def current_rehearsal(session=None):
    """A token of the rehearsal now running (one per rehearsal), or None."""
    return (session if session is not None else db.session).info.get(_REHEARSAL)


# -- rehearsals that write nothing ------------------------------------------------------------------
class NeedsWrite(Exception):
    """A rehearsal run without a savepoint reached its first write (``rehearse`` runs it again in one)."""


_READ_ONLY = "rehearsal_read_only"


def rehearse(work):
    """Run ``work()`` as a rehearsal that leaves no trace, and return what it returns.

    First as it stands, in the request's session and transaction, with no savepoint: most
    rehearsals only change objects they loaded (a preview records the changes from the session,
    handlers/preview.record_changes), and those changes are given back in memory after it, so it
    sends nothing but its reads and, on SQLite, takes no write lock. A rehearsal that reaches a write
    (a flush, a writing statement) is stopped before it (NeedsWrite), its changes given back the same
    way, and it runs again in a savepoint that is rolled back (``dry_run``). A session that holds
    uncommitted changes rehearses in the savepoint at once (it flushes them first)."""
    session = db.session()
    if _holds_changes(session):
        with dry_run():
            return work()
    loaded = _loaded_columns(session)
    connection = session.connection()
    info, rehearsing = session.info, session.info.get(_REHEARSAL)
    info[_REHEARSAL], info[_READ_ONLY] = object(), True
    connection.info[_READ_ONLY] = True
    try:
        return work()
    except NeedsWrite:
        pass
    finally:
        info[_REHEARSAL] = rehearsing
        info.pop(_READ_ONLY, None)
        connection.info.pop(_READ_ONLY, None)
        _give_back(session, loaded)
    with dry_run():
        return work()


def _give_back(session, loaded) -> None:
    """Undo in memory what a rehearsal without a savepoint changed: rows it added are dropped, rows it
    deleted kept, and the objects it changed get the values they had loaded back (``_restore_columns``)."""
    for obj in list(session.new):
        session.expunge(obj)
    for obj in list(session.deleted):
        session._update_impl(inspect(obj), revert_deletion=True)   # as a savepoint's rollback does
    for obj in list(session.dirty):
        if inspect(obj).modified:
            session.expire(obj)
    _restore_columns(session, loaded)


def _read_only(session) -> bool:
    return session.info.get(_READ_ONLY, False)


@event.listens_for(Session, "before_flush")
def _no_flush_in_read_only_rehearsal(session, _context, _instances):
    if _read_only(session) and (session.new or session.deleted
                                or any(session.is_modified(o) for o in session.dirty)):
        raise NeedsWrite()


@event.listens_for(Engine, "before_cursor_execute")
def _no_write_in_read_only_rehearsal(conn, _cursor, statement, _parameters, _context, _executemany):
    # every other way to write (a Core statement on the session's connection): anything but a plain
    # read stops the rehearsal before it is sent
    if conn.info.get(_READ_ONLY) and not _plain_read(statement):
        raise NeedsWrite()


def _plain_read(statement: str) -> bool:
    head = statement.lstrip()[:6].upper()
    return head == "SELECT" and " FOR " not in statement[-60:].upper()


def end_reading() -> None:
    """End a transaction that only read with COMMIT rather than the ROLLBACK of closing the session.

    psycopg forgets its prepared statements on every ROLLBACK (a statement prepared in a rolled-back
    transaction may be gone on the server), so a request that ended with one left nothing prepared
    for the next: every statement was parsed and planned again on every request. A transaction that
    wrote, or a unit of work still open, is left alone: closing the session rolls it back.
    """
    session = db.session()
    if session.in_transaction() and not session.info.get(_DEPTH, 0) and not _holds_changes(session):
        session.commit()


def command(fn):
    """Make ``fn`` a command: it runs in a unit of work of its own, or joins the open one."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        with unit_of_work():
            return fn(*args, **kwargs)
    return run


def read_values(stmt, params=None):
    """Run a read of plain values (a statement built once on the tables' columns) as Core, after
    flushing what the session's own execute would have flushed first: the same rows, without the
    ORM's execution context. Only for reads: the ORM's statements mark the unit as having written."""
    session = db.session()
    if session.autoflush:
        session.flush()
    return session.connection().execute(stmt, params)


def write_values(stmt, params=None):
    """Run a Core write that depends on nothing the session holds (a counter, a row of its own)
    without flushing the session's pending changes first, as ``Session.execute`` would: they go with
    the unit's next flush, in one pass with the rest. The unit is marked as having written."""
    session = db.session()
    result = session.connection().execute(stmt, params)
    session.info[_WROTE] = True
    return result


def write_now(obj, values: dict) -> bool:
    """Set these columns of a loaded object by one UPDATE of its row, now, and keep them as its loaded
    values: the object is not made dirty, so the unit's next flush has nothing of it to write.
    Returns whether it wrote (False: nothing to write; a new or already changed object, whose flush is
    due anyway; a rehearsal, see below).

    A flush costs the unit of work about a thousand Python calls however little it writes, and
    several hundred more per object; one statement costs a fifth of that. In a rehearsal (a
    preview) the values are set on the object as any change is, since the preview's recorder reads
    the changes from the session. Rolled back with a savepoint (a failed operator), the columns are
    expired, as a flushed change would be, so that what follows reads them again."""
    if not values:
        return False
    state = inspect(obj)
    session = state.session
    if session is not None:
        for watcher in session.info.get(_WRITE_WATCHERS, ()):
            watcher(obj, values)
    # a new row is the flush's, and so is a changed one: its flush is due anyway, and writes all its
    # columns in one UPDATE
    if session is None or not state.persistent or state.modified or in_dry_run(session):
        for name, value in values.items():
            setattr(obj, name, value)
        return False
    old = {name: getattr(obj, name) for name in values} if _AFTER_WRITE_NOW else None
    _update_row(session, state, values)
    for name, value in values.items():
        set_committed_value(obj, name, value)
    _written(session, obj, tuple(values), old, values)
    return True


def write_changes(obj) -> bool:
    """``write_now`` for the changes already made to a loaded object's columns: one UPDATE of them, now,
    and the object clean again, so that the unit's next flush has nothing of it to write. Returns
    whether it wrote; False leaves the changes to the flush: nothing changed, a change that is not a
    column of the row (a relationship), a rehearsal, or a preview recording (its recorder reads the
    values before the change from the flush)."""
    state = inspect(obj)
    session = state.session
    if (session is None or not state.persistent or not state.modified or in_dry_run(session)
            or session.info.get(_WRITE_WATCHERS)):
        return False
    mapper, table = state.mapper, state.mapper.local_table
    values, old = {}, {}
    for name, before in state.committed_state.items():
        column = _column_of(mapper, table, name)
        if column is None:
            return False
        values[name] = state.dict[name]
        old[name] = before if before is not NO_VALUE and before is not NEVER_SET else None
    if not values:
        return False
    _update_row(session, state, values)
    state._commit_all(state.dict, session.identity_map)   # as a flush leaves it: clean, the values loaded
    _written(session, obj, tuple(values), old, values)
    return True


def insert_now(obj) -> bool:
    """Write a new object's row by one INSERT, now, its defaults filled as a flush fills them (the
    columns' Python defaults) and read back with its key; the object is then in the session
    as if loaded, so that the unit's next flush has nothing of it to write. Its many-to-one
    relationships give their keys, as in a flush.

    Returns whether it wrote by its own statement. False: the object was added and flushed instead, in
    a rehearsal, while a preview records (its recorder reads new rows from the flush), or when it
    refers to a row that is new itself. Either way its row is written when this returns. Rolled back
    (a savepoint or the transaction), the object leaves the session, as a flushed new object does."""
    session = db.session()
    state = inspect(obj)
    if state.key is not None:
        raise TypeError(f"{type(obj).__name__} is not a new object")
    mapper = state.mapper
    given = _new_row_values(state, mapper)
    if given is None or in_dry_run(session) or session.info.get(_WRITE_WATCHERS):
        session.add(obj)
        session.flush()
        return False
    if state.session is not None:
        state.session.expunge(obj)   # added already: its flush would write it a second time
    table = mapper.local_table
    found = _INSERTS.get(table.name)
    if found is None:   # one statement per table, built once: the values it is given are parameters
        # read back what the database or a default makes (the key, a time); a column without either
        # is what it was given, or NULL
        made = tuple(c for c in table.columns
                     if c.primary_key or c.default is not None or c.server_default is not None)
        found = _INSERTS[table.name] = (table.insert().returning(*made), frozenset(made))
    stmt, made = found
    row = write_values(stmt, given).one()._mapping
    for prop, column in _table_columns(mapper):
        if column in made:
            state.dict[prop.key] = row[column]
        else:
            state.dict[prop.key] = given.get(column.key)
    make_transient_to_detached(obj)   # the row as written: persistent below without reading it
    session.add(obj)
    _track(session, obj, None)
    for listener in _AFTER_INSERT_NOW:
        listener(obj)
    return True


def _new_row_values(state, mapper) -> dict | None:
    """The INSERT's values of a new object: the columns it was given, and the keys of the rows its
    many-to-one relationships name. None when one of those rows is new itself (the flush orders it)."""
    values = {}
    for rel in mapper.relationships:
        if rel.direction is not MANYTOONE or state.dict.get(rel.key) is None:
            continue
        other = inspect(state.dict[rel.key])
        if other.key is None:
            return None
        for local, remote in rel.local_remote_pairs:
            values[local.key] = other.dict.get(other.mapper.get_property_by_column(remote).key)
    for prop, column in _table_columns(mapper):
        if prop.key in state.dict:
            if column.key in values and values[column.key] != state.dict[prop.key]:
                raise ValueError(f"{mapper.class_.__name__}.{prop.key} does not match its relationship")
            values[column.key] = state.dict[prop.key]
    return values


def _table_columns(mapper):
    """(attribute, column) of each column of the mapper's own table (not a column_property's query)."""
    found = _COLUMNS.get(mapper)
    if found is None:
        table = mapper.local_table
        found = _COLUMNS[mapper] = tuple((prop, prop.columns[0]) for prop in mapper.column_attrs
                                         if getattr(prop.columns[0], "table", None) is table)
    return found


def _column_of(mapper, table, name):
    prop = mapper.attrs.get(name)
    columns = getattr(prop, "columns", None)
    return columns[0] if columns and getattr(columns[0], "table", None) is table else None


def _update_row(session, state, values: dict) -> None:
    """One UPDATE of these columns of the object's row (write_now, write_changes)."""
    mapper, table = state.mapper, state.mapper.local_table
    [pk] = mapper.primary_key
    key = (table.name, tuple(sorted(values)))
    stmt = _UPDATES.get(key)
    if stmt is None:   # one statement per table and set of columns, built once
        columns = {name: _column_of(mapper, table, name) for name in sorted(values)}
        if any(c is None for c in columns.values()):
            raise TypeError(f"not columns of {table.name}: {sorted(values)}")
        stmt = _UPDATES[key] = (table.update().where(pk == bindparam("_pk"))
                                .values({c.key: bindparam(name) for name, c in columns.items()}))
    write_values(stmt, {"_pk": state.identity[0], **values})


def _written(session, obj, names: tuple, old: dict | None, values: dict) -> None:
    nested = session.get_nested_transaction()
    if nested is not None:
        _track(session, obj, names, nested)
    for listener in _AFTER_WRITE_NOW:
        listener(obj, old, values)


def _track(session, obj, names: tuple | None, txn=None) -> None:
    """Remember what a rollback of ``txn`` (default: the innermost transaction) undoes: the columns
    written (expired then), or, ``names`` None, the object inserted (expunged then)."""
    txn = txn or session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_WRITTEN_NOW, []).append((txn, obj, names))


def after_write_now(listener):
    """Register ``listener(obj, old, new)``, called after each write of ``write_now`` with the columns'
    values before and after it: what an ``after_flush`` listener sees of the changes it writes."""
    _AFTER_WRITE_NOW.append(listener)
    return listener


_AFTER_WRITE_NOW: list = []


def after_insert_now(listener):
    """Register ``listener(obj)``, called after each row ``insert_now`` wrote by its own statement:
    what an ``after_flush`` listener sees of a new object."""
    _AFTER_INSERT_NOW.append(listener)
    return listener


_AFTER_INSERT_NOW: list = []


@event.listens_for(Session, "after_soft_rollback")
def _expire_written_now(session, previous_transaction):
    written = session.info.get(_WRITTEN_NOW)
    if not written:
        return
    kept = []
    for txn, obj, names in written:
        if within_transaction(txn, previous_transaction):
            if inspect(obj).session is not session:
                continue
            if names is None:
                _drop_inserted(session, obj)
            else:
                session.expire(obj, names)
        else:
            kept.append((txn, obj, names))
    session.info[_WRITTEN_NOW] = kept


def _drop_inserted(session, obj) -> None:
    """A row ``insert_now`` wrote was rolled back: its object leaves the session as a new one again, as
    a flushed new object does (added again, it is inserted again)."""
    session.expunge(obj)
    make_transient(obj)


def within_transaction(txn, ancestor) -> bool:
    """Whether session transaction ``txn`` is ``ancestor`` or nested in it (a savepoint's rollback
    undoes what was recorded in either)."""
    while txn is not None:
        if txn is ancestor:
            return True
        txn = txn.parent
    return False


_WRITTEN_NOW = "uow_written_now"   # (transaction, object, columns or None: inserted) of write_now and insert_now
_WRITE_WATCHERS = "uow_write_watchers"


@contextmanager
def watching_writes(watcher):
    """Call ``watcher(obj, values)`` before each ``write_now`` while the block runs, in this session
    (what a flush's listeners see of the object's changes, for a change that is not flushed)."""
    watchers = db.session.info.setdefault(_WRITE_WATCHERS, [])
    watchers.append(watcher)
    try:
        yield
    finally:
        watchers.remove(watcher)


_UPDATES: dict = {}   # (table, columns) -> write_now's UPDATE
_INSERTS: dict = {}   # table -> insert_now's INSERT and the columns it reads back
_COLUMNS: dict = {}   # mapper -> its table's (attribute, column) pairs


def in_unit_of_work() -> bool:
    """Whether a unit of work is open (its work is committed, or rolled back, when the outermost ends)."""
    return db.session.info.get(_DEPTH, 0) > 0


def holds_changes(session=None) -> bool:
    """Whether the session holds changes a commit would write (pending objects, or flushed or
    statement-made changes of its open transaction)."""
    return _holds_changes(session if session is not None else db.session())


def is_rollback_only() -> bool:
    return db.session.info.get(_ROLLBACK_ONLY, False)


def restore_rollback_only(marked: bool) -> None:
    """After a rollback to a savepoint: the failed work inside it is undone, so the unit is as
    rollback-only as it was when the savepoint began (the engine's incidents, engine/runtime.py)."""
    db.session.info[_ROLLBACK_ONLY] = marked


def _holds_changes(session) -> bool:
    """Objects added, changed or deleted, or changes already flushed or written by ORM statements."""
    if session.info.get(_WROTE):
        return True
    return bool(session.new or session.deleted or any(session.is_modified(o) for o in session.dirty))


@event.listens_for(Session, "after_flush")
def _flushed(session, _context):
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _orm_statement(state):
    if state.is_insert or state.is_update or state.is_delete:
        if _read_only(state.session):
            raise NeedsWrite()
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session, transaction):
    rolled_back = session.info.pop(_ROLLED_BACK, False)
    if transaction.parent is None:   # the root transaction committed or rolled back
        session.info.pop(_WROTE, None)
        session.info.pop(_WRITING, None)
        written = session.info.pop(_WRITTEN_NOW, None)
        if rolled_back and written:   # rows inserted now are gone with it (a flush's are expunged too)
            for _txn, obj, names in written:
                if names is None and inspect(obj).session is session:
                    _drop_inserted(session, obj)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session):
    # fires just before the transaction's end (root or savepoint), which reads and clears it
    session.info[_ROLLED_BACK] = True


_ROLLED_BACK = "uow_rolled_back"
