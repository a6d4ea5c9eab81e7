"""Checks and conversions for configuration values, in plain code.

`digest.config` declares each setting with one of these checks. A check takes
the value as the TOML file or the environment gave it and returns it converted
(`"12.5"` -> 12.5, `"yes"` -> True, a path string -> Path, a secret -> Secret),
or raises `Invalid` with a one-line reason. The conversions and the wording
follow pydantic's lax mode, which validated the settings before: a value
accepted or refused then is accepted or refused now, with the same words
(only a `[scheduler]` duration that is neither text nor a number now gets the
duration hint). Importing pydantic cost every command about 0.1 s of start-up
(issue 6).

`Checked` is the base of the settings records: a dataclass whose `__init__`
runs each field's check (declared with `checked()`) in declaration order,
fills defaults, reports a missing required field, then refuses unknown keys.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Check = Callable[[Any], Any]

_INTEGER = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?")
_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


class Invalid(ValueError):
    """A value that fails its check: where (`loc`, keys and list indexes from
    the top), why (`reason`), and the value as given (`value`; None when there
    is none, as for a missing key)."""

    def __init__(self, reason: str, value: Any = None, loc: tuple = ()):
        super().__init__(reason)
        self.reason, self.value, self.loc = reason, value, loc

    def within(self, *outer: Any) -> Invalid:
        """The same problem, located inside `outer`."""
        return Invalid(self.reason, self.value, (*outer, *self.loc))

    def __str__(self) -> str:
        where = ".".join(str(part) for part in self.loc)
        return f"{where}: {self.reason}" if where else self.reason


class Secret:
    """A secret string: `get_secret_value()` gives it, repr() and str() never do."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def text(
    *, min_length: int = 0, max_length: int | None = None, pattern: str | None = None
) -> Check:
    """A string, of that length, matching `pattern` (searched, as pydantic does)."""
    compiled = re.compile(_text_end(pattern)) if pattern else None

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid("Input should be a valid string", value)
        if len(value) < min_length:
            plural = "character" if min_length == 1 else "characters"
            raise Invalid(f"String should have at least {min_length} {plural}", value)
        if max_length is not None and len(value) > max_length:
            raise Invalid(f"String should have at most {max_length} characters", value)
        if compiled is not None and not compiled.search(value):
            if "https?" in pattern:
                raise Invalid("must be an http:// or https:// URL", value)
            raise Invalid(f"String should match pattern '{pattern}'", value)
        return value

    return check


def _text_end(pattern: str) -> str:
    # In pydantic's regex engine `$` is the end of the text; in Python's it
    # also matches before a final newline, which a URL must not end with.
    return pattern.removesuffix("$") + r"\Z" if pattern.endswith("$") else pattern


def one_of(*choices: str) -> Check:
    """Exactly one of `choices`."""
    allowed = f"{', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else choices[0]

    def check(value: Any) -> str:
        if value not in choices or not isinstance(value, str):
            raise Invalid(f"must be one of {allowed}", value)
        return value

    return check


def integer(*, ge: int | None = None, le: int | None = None) -> Check:
    """A whole number: an int, a float without fraction, or a string of digits
    (underscores between digits and a `.0` tail allowed, as pydantic does)."""

    def check(value: Any) -> int:
        if isinstance(value, bool | int):
            number = int(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise Invalid("Input should be a finite number", value)
            if not value.is_integer():
                raise Invalid(
                    "Input should be a valid integer, got a number with a fractional part", value
                )
            number = int(value)
        elif isinstance(value, str):
            stripped = value.strip()
            if not (stripped.isascii() and _INTEGER.fullmatch(stripped)):
                raise Invalid(
                    "Input should be a valid integer, unable to parse string as an integer", value
                )
            number = int(stripped.partition(".")[0])
        else:
            raise Invalid("Input should be a valid integer", value)
        return _bounded(number, value, ge=ge, le=le)

    return check


def number(*, ge: float | None = None, le: float | None = None, gt: float | None = None) -> Check:
    """A float: a number, or a string Python reads as one (inf and nan included,
    then refused by the bounds)."""

    def check(value: Any) -> float:
        if isinstance(value, bool | int | float):
            result = float(value)
        elif isinstance(value, str):
            try:
                if not value.isascii():
                    raise ValueError(value)
                result = float(value)
            except ValueError:
                raise Invalid(
                    "Input should be a valid number, unable to parse string as a number", value
                ) from None
        else:
            raise Invalid("Input should be a valid number", value)
        return _bounded(result, value, ge=ge, le=le, gt=gt)

    return check


def _bounded(result, value, *, ge=None, le=None, gt=None):
    # In pydantic's order: a NaN fails the first bound it meets.
    if le is not None and not result <= le:
        raise Invalid(f"Input should be less than or equal to {le}", value)
    if ge is not None and not result >= ge:
        raise Invalid(f"Input should be greater than or equal to {ge}", value)
    if gt is not None and not result > gt:
        raise Invalid(f"Input should be greater than {gt}", value)
    return result


def boolean(value: Any) -> bool:
    """true/false, yes/no, on/off, t/f, y/n, 1/0 (any case), or 0 and 1."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
    elif isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str | int):
        raise Invalid("Input should be a valid boolean, unable to interpret input", value)
    raise Invalid("Input should be a valid boolean", value)


def path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, str):
        return Path(value)
    raise Invalid("Input is not a valid path for <class 'pathlib.Path'>", value)


def secret(value: Any) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    raise Invalid("Input should be a valid string", value)


def optional(check: Check) -> Check:
    """None, or what `check` accepts."""
    return lambda value: None if value is None else check(value)


def list_of(check: Check) -> Check:
    """A list (or tuple) whose items pass `check`; an error names the item's index."""

    def checked_list(value: Any) -> list:
        if not isinstance(value, list | tuple):
            raise Invalid("Input should be a valid list", value)
        items = []
        for index, item in enumerate(value):
            try:
                items.append(check(item))
            except Invalid as exc:
                raise exc.within(index) from None
        return items

    return checked_list


def record(cls: type[Checked]) -> Check:
    """An instance of `cls`, or a table (dict) of its fields."""

    def check(value: Any) -> Checked:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise Invalid(
                f"Input should be a valid dictionary or instance of {cls.__name__}", value
            )
        return cls(**value)

    return check


def then(check: Check, *after: Callable[[Any], Any]) -> Check:
    """`check`, then each of `after` on its result; a ValueError an `after`
    raises becomes an Invalid showing the value as given."""

    def combined(value: Any) -> Any:
        result = check(value)
        for step in after:
            try:
                result = step(result)
            except Invalid:
                raise
            except ValueError as exc:
                raise Invalid(str(exc), value) from None
        return result

    return combined


def checked(check: Check, default: Any = dataclasses.MISSING, **field_options: Any) -> Any:
    """A dataclass field of a `Checked` record, with its check."""
    return dataclasses.field(default=default, metadata={"check": check}, **field_options)


class Checked:
    """Base of the settings records (dataclasses declared with `init=False`).

    Construction checks and converts every field in declaration order, fills
    the defaults (trusted as valid: they are not checked), then refuses keys
    that are not fields. The first problem raises `Invalid`, located at the
    field (and the index or key inside it).
    """

    def __init__(self, **values: Any):
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            if field.name in values:
                try:
                    value = field.metadata["check"](values[field.name])
                except Invalid as exc:
                    raise exc.within(field.name) from None
            elif field.default is not dataclasses.MISSING:
                value = field.default
            elif field.default_factory is not dataclasses.MISSING:
                value = field.default_factory()
            else:
                raise Invalid("Field required", loc=(field.name,))
            setattr(self, field.name, value)
        known = {field.name for field in dataclasses.fields(self)}  # type: ignore[arg-type]
        for name, value in values.items():
            if name not in known:
                raise Invalid("is not a known setting", value, (name,))
