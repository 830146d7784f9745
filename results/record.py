"""The machinery of the result model (results.model): ``Record``, a JSON object of the file
with named fields, and ``ABSENT``, the value of a field that the file does not have.

Each record keeps what the file says exactly: a field absent from the file (older files lack
newer fields) is ``ABSENT``, not ``None`` (which is the file's ``null``); keys that the model
does not name are kept in ``extra``; and ``to_dict`` writes the keys in the order they were
read, so that ``Record.from_dict(d).to_dict() == d`` with the same key order.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar


class _Absent:
    """The type of ``ABSENT``: a field that the file does not have (not its ``null``)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def _plain(value):
    """``value`` as JSON data: records as dicts, containers copied."""
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclasses.dataclass
class Record:
    """A JSON object of the file with named fields; ``NESTED`` maps a field to the record type
    of its value (``[Type]``: a list of them). ``extra``: keys the model does not name."""

    NESTED: ClassVar[dict] = {}
    extra: dict = dataclasses.field(default_factory=dict, repr=False, kw_only=True,
                                    metadata={"json": False})
    _keys: tuple | None = dataclasses.field(default=None, repr=False, compare=False,
                                            kw_only=True, metadata={"json": False})

    @classmethod
    @functools.cache  # asked for every field read (get, to_dict); a class's fields are fixed
    def field_names(cls) -> tuple[str, ...]:
        """The JSON keys this record names, in the order a new file writes them."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("json", True))

    @classmethod
    def from_dict(cls, data: dict):
        """The record of the JSON object ``data`` (not changed; its lists and objects are
        copied). A nested object that is not an object (a damaged file) is kept as it is."""
        names = set(cls.field_names())
        known, extra = {}, {}
        for key, value in data.items():
            if key in names:
                known[key] = cls._read(cls.NESTED.get(key), value)
            else:
                extra[key] = _plain(value)
        return cls(**known, extra=extra, _keys=tuple(data))

    @staticmethod
    def _read(kind, value):
        if kind is None or value is None:
            return _plain(value)
        if isinstance(kind, list):
            return ([Record._read(kind[0], v) for v in value] if isinstance(value, list)
                    else _plain(value))
        return kind.from_dict(value) if isinstance(value, dict) else _plain(value)

    def to_dict(self) -> dict:
        """The JSON object: the keys as read (new records: ``field_names`` then ``extra``),
        an ``ABSENT`` field left out."""
        values = {name: getattr(self, name) for name in self.field_names()} | self.extra
        order = self._keys if self._keys is not None else tuple(values)
        order += tuple(k for k in values if k not in order)
        return {key: _plain(values[key]) for key in order
                if key in values and values[key] is not ABSENT}

    def get(self, name: str, default=None):
        """The field (or extra key) ``name``; ``default`` when the file has none."""
        value = getattr(self, name, ABSENT) if name in self.field_names() \
            else self.extra.get(name, ABSENT)
        return default if value is ABSENT else value


def record_type(cls):
    """A Record subclass whose every field defaults to ABSENT."""
    for name in cls.__annotations__:
        if not name.isupper() and name not in cls.__dict__:
            setattr(cls, name, ABSENT)
    return dataclasses.dataclass(cls)
