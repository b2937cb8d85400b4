"""An applicant's list read as row tuples: one SELECT of exactly the values its columns show.

Each list ``Column`` of a catalog entry names the attributes its ``value`` reads (``reads``:
dotted paths from the application, e.g. ``"lock_record.project.name"``). The list query selects
those attributes, outer-joining an alias of each relationship on a path, and hands every row to
the columns as a light object with the same attribute paths: ``value`` and the template read it
as they would read the application, and the model's Python properties (``status_label``,
``role_label``, …) work on it as on the model. No ORM object is built for a list row; the detail
pages still load the application itself.

A related record that is missing (a NULL foreign key) is ``None`` on the row, as on the model.
An attribute a column reads without naming it is an AttributeError, not a silent query.
"""
from sqlalchemy import inspect
from sqlalchemy.orm import aliased

# what the list page shows of every application besides its columns
BASE_READS = ("id", "status", "reported_at", "case_no")


class ListRow:
    """One record of a list row; subclassed per model with the model's Python properties."""
    def __repr__(self):
        return f"<{type(self).__name__} {self.__dict__!r}>"


_ROW_CLASSES: dict[type, type] = {}   # keyed by the model class: code, not data


def row_class(model: type) -> type:
    """A ListRow subclass carrying the model's Python properties (read-only computed values)."""
    cls = _ROW_CLASSES.get(model)
    if cls is None:
        props = {}
        for klass in reversed(model.__mro__):
            props.update({name: value for name, value in vars(klass).items() if isinstance(value, property)})
        cls = _ROW_CLASSES[model] = type(f"{model.__name__}Row", (ListRow,), props)
    return cls


class ListQuery:
    """The columns and joins a list selects, and how a result row becomes a ListRow tree."""

    def __init__(self, model: type, paths):
        self.model = model
        entities = {(): model}           # path prefix -> the (aliased) entity it reaches
        self._joins = []                 # (relationship attribute of the alias)
        self._exprs = []                 # what the SELECT reads after its statement's filters
        self._steps = []                 # per selected value: (parent prefix, name, row class or None)
        for path in dict.fromkeys(paths):
            parts = tuple(path.split("."))
            for i in range(1, len(parts)):
                prefix = parts[:i]
                if prefix in entities:
                    continue
                parent = entities[prefix[:-1]]
                relationship = getattr(parent, parts[i - 1])
                target_class = relationship.property.mapper.class_
                target = aliased(target_class)
                entities[prefix] = target
                self._joins.append(relationship.of_type(target))
                # the related record's primary key says whether it exists (outer join)
                mapper = inspect(target_class)
                pk = mapper.get_property_by_column(mapper.primary_key[0]).key
                self._exprs.append(getattr(target, pk))
                self._steps.append((prefix[:-1], parts[i - 1], row_class(target_class), prefix, pk))
            self._exprs.append(getattr(entities[parts[:-1]], parts[-1]))
            self._steps.append((parts[:-1], parts[-1], None, None, None))
        self._root = row_class(model)

    def select(self, stmt):
        """``stmt`` (a ``select(model)`` with its filters and order) reading only the list's values."""
        stmt = stmt.with_only_columns(*self._exprs)
        for join in self._joins:
            stmt = stmt.outerjoin(join)
        return stmt

    def rows(self, result) -> list:
        root_class, steps = self._root, self._steps
        out = []
        for values in result:
            root = root_class()
            nodes = {(): root}
            for (parent, name, cls, prefix, pk), value in zip(steps, values):
                holder = nodes.get(parent)
                if holder is None:
                    if cls is not None:
                        nodes[prefix] = None
                    continue
                if cls is None:
                    holder.__dict__[name] = value
                elif value is None:
                    holder.__dict__[name] = nodes[prefix] = None
                else:
                    node = cls()
                    node.__dict__[pk] = value
                    holder.__dict__[name] = nodes[prefix] = node
            out.append(root)
        return out


def list_query(entry) -> ListQuery:
    """The entry's list query (built once per entry: it depends on the declaration only)."""
    query = _QUERIES.get(entry.key)
    if query is None or query.model is not entry.model:
        query = _QUERIES[entry.key] = ListQuery(entry.model, BASE_READS + tuple(
            path for column in entry.columns for path in column.reads))
    return query


_QUERIES: dict[str, ListQuery] = {}   # keyed by the process key: built from code, not data
