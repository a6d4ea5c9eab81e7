"""Subscribers as CSV: the columns of DESIGN.md, so export then import round-trips.

Rows are validated with the same rules as the command line
(`digest.subscriber_input`); a bad row is reported with its line number and the
others are kept.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from digest.preferences import WEEKDAYS, Preferences
from digest.subscriber_input import (
    CSV_COLUMNS,
    LIST_OPTIONS,
    InputError,
    apply_options,
    normalize_email,
    parse_bool,
)


@dataclass(frozen=True)
class ImportRow:
    """One accepted CSV row. `confirmed` is None when the file leaves it empty or
    has no such column, so the caller decides what an unspecified status means.
    `prefs` are the row's settings over the defaults (for a new subscriber);
    `options` are only the columns the file has, to apply over an existing
    subscriber's settings so that a partial file changes only what it names."""

    line: int
    email: str
    prefs: Preferences
    confirmed: bool | None
    options: dict[str, str] = field(default_factory=dict, compare=False)


def read_csv(
    stream: Iterable[str], known_slugs: Collection[str]
) -> tuple[list[ImportRow], list[tuple[int, str]]]:
    """Rows and `(line, reason)` errors from a CSV file with a header row.

    The header needs `email`; other columns are optional and any order. An unknown
    column rejects the whole file (a misspelt `keyword` would silently drop data).
    A bad row is reported and skipped, the others still come back. An address
    repeated in the file (ignoring case) is reported, the first row kept. Blank
    rows are skipped. Settings a row leaves empty take their defaults. The
    delimiter is `,`, `;` or a tab, whichever the header row uses (spreadsheets
    in many locales save with `;`)."""
    lines = iter(stream)
    first = next(lines, "")
    reader = csv.reader(itertools.chain([first], lines), delimiter=sniff_delimiter(first))
    rows: list[ImportRow] = []
    errors: list[tuple[int, str]] = []
    try:
        columns = [_column_name(name) for name in next(reader, [])]
        problem = _header_problem(columns)
        if problem:
            return [], [(1, problem)]
        for line, cells in _records(reader):
            try:
                rows.append(_read_row(line, columns, cells, known_slugs))
            except InputError as error:
                errors.append((line, str(error)))
    except csv.Error as error:
        # NUL bytes, an unterminated quote, a giant field: the rest is unreadable.
        errors.append((reader.line_num, f"unreadable CSV, import stops here: {error}"))
    rows, duplicates = _drop_duplicates(rows)
    return rows, sorted(errors + duplicates)


# Encodings tried in turn: UTF-8 (with or without a byte-order mark), then
# what spreadsheets on Windows write, then Latin-1, which decodes any bytes.
_ENCODINGS = (("utf-8-sig", "UTF-8"), ("cp1252", "Windows-1252"), ("latin-1", "Latin-1"))


def decode_csv(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and the name of the encoding it was read with:
    UTF-16 when it starts with a UTF-16 byte-order mark (Excel's "Unicode
    text"), else the first of UTF-8, Windows-1252 and Latin-1 that decodes it.
    A UTF-8 byte-order mark is dropped."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError:
            pass
    for codec, name in _ENCODINGS:
        try:
            return data.decode(codec), name
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def sniff_delimiter(header: str) -> str:
    """`,`, `;` or tab: the one the header row uses most (`,` when none)."""
    counts = {delimiter: header.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def write_csv(stream: IO[str], rows: Iterable[tuple[str, Preferences, bool | None]]) -> None:
    """Write a header and one row per subscriber in `CSV_COLUMNS`, so `read_csv`
    gives the same values back. Open `stream` with `newline=""`."""
    writer = csv.writer(stream)
    writer.writerow(CSV_COLUMNS)
    for email, prefs, confirmed in rows:
        cells = {
            "email": email,
            "topics": "; ".join(topic.spec() for topic in prefs.topics),
            **{name: "; ".join(getattr(prefs, name)) for name in LIST_OPTIONS},
            "frequency": prefs.frequency,
            "weekday": WEEKDAYS[prefs.weekday],
            "timezone": prefs.timezone,
            "hour": str(prefs.hour),
            "max_papers": str(prefs.max_papers),
            "format": prefs.format,
            "cross_lists": _bool_cell(prefs.cross_lists),
            "min_upvotes": str(prefs.min_upvotes),
            "confirmed": _bool_cell(confirmed),
        }
        writer.writerow([_defuse(cells[name]) for name in CSV_COLUMNS])


def _records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the line each starts on (a quoted cell may span lines)."""
    line = reader.line_num + 1
    for cells in reader:
        start, line = line, reader.line_num + 1
        if any(cell.strip() for cell in cells):
            yield start, cells


def _drop_duplicates(rows: list[ImportRow]) -> tuple[list[ImportRow], list[tuple[int, str]]]:
    """Keep the first row of each address (ignoring case); report the others."""
    first: dict[str, ImportRow] = {}
    errors = []
    for row in rows:
        earlier = first.setdefault(row.email.casefold(), row)
        if earlier is not row:
            errors.append((row.line, f"duplicate email address (first on line {earlier.line})"))
    return list(first.values()), errors


def _read_row(
    line: int, columns: list[str], cells: list[str], known_slugs: Collection[str]
) -> ImportRow:
    if len(cells) > len(columns):
        raise InputError(f"{len(cells)} fields but the header names {len(columns)}")
    # Spreadsheets drop trailing empty cells; a missing cell is an empty one.
    values = dict(zip(columns, [_undefuse(cell) for cell in cells], strict=False))
    email = normalize_email(values.pop("email", ""))
    confirmed = parse_bool(values.pop("confirmed", None))
    prefs = apply_options(Preferences(), values, known_slugs)
    return ImportRow(line, email, prefs, confirmed, values)


def _header_problem(columns: list[str]) -> str | None:
    if not columns:
        return "empty file: a header row with an `email` column is required"
    if "email" not in columns:
        return "the header row needs an `email` column"
    unknown = [name for name in columns if name not in CSV_COLUMNS]
    if unknown:
        return f"unknown column: {', '.join(unknown)}; known: {', '.join(CSV_COLUMNS)}"
    doubled = sorted({name for name in columns if columns.count(name) > 1})
    if doubled:
        return f"column given more than once: {', '.join(doubled)}"
    return None


def _column_name(name: str) -> str:
    # Excel writes a byte-order mark; people write `Max-Papers` as in the CLI.
    return name.lstrip("\ufeff").strip().lower().replace("-", "_").replace(" ", "_")


def _bool_cell(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


# A cell starting with one of these runs as a formula in spreadsheet programs, and
# keywords and names come from subscribers: export prefixes such cells with `'`
# (and cells already starting with `'`, so the import can undo it exactly).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def _defuse(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _undefuse(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell
