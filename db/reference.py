"""Load the reference CSVs (gminas, powiats, hromadas, settlements) into the database.

The bot reads places from the database, never from the files, so every process (bot, console,
CLI) and both backends see the same data. Loading runs at every start-up, so it has to be cheap
when nothing changed: each file's sha256 is recorded in `reference_dataset` and an unchanged file
is skipped. A changed file is upserted in full and rows that disappeared from it are deleted, all
in one transaction, so a reader never sees a half-loaded table.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.base import utcnow
from db.models import Gmina, Hromada, Powiat, ReferenceDataset, Settlement
from db.place_spellings import search_forms
from db.textfold import fold

REFERENCE_DIR = Path(__file__).parent / "reference"

# asyncpg refuses a statement with more than 32,767 bind parameters and SQLite's default limit is
# 32,766. Rows go to the driver in chunks of at most this many parameters, so the limit holds
# however SQLAlchemy batches an executemany (asyncpg's pipeline or multi-row VALUES).
MAX_BIND_PARAMETERS = 32_000

CRIMEA_OBLAST = "Автономна Республіка Крим"

Row = dict[str, Any]


def _text(value: str) -> str | None:
    value = value.strip()
    return value or None


def _int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value else None


def _gmina(raw: dict[str, str]) -> Row:
    return {
        "teryt": raw["teryt"].strip(),
        "name": raw["name"].strip(),
        "name_key": fold(raw["name"]),
        "kind": raw["kind"].strip(),
        "powiat": raw["powiat"].strip(),
        "voivodeship": raw["voivodeship"].strip(),
        "population": _int(raw["population"]),
        "population_year": _int(raw["population_year"]),
        "population_note": _text(raw["population_note"]),
    }


def _powiat(raw: dict[str, str]) -> Row:
    return {
        "teryt": raw["teryt"].strip(),
        "name": raw["name"].strip(),
        "name_key": fold(raw["name"]),
        "kind": raw["kind"].strip(),
        "voivodeship": raw["voivodeship"].strip(),
        "population": _int(raw["population"]),
        "population_year": _int(raw["population_year"]),
    }


# Bumped when the way `name_forms` is derived changes, so unchanged files are loaded again.
FORMS_VERSION = b"place-forms-1"


def _forms(name_uk: str, oblast_uk: str) -> str:
    """Other spellings of a Ukrainian name as one searchable string, "/kijow/kiev/" ("" if none).

    The slashes let SQL tell a whole form ("/kijow/") and a form's start ("/kij") from a match
    inside one; folded text never contains a slash.
    """
    forms = search_forms(name_uk, oblast_uk)
    return "/" + "/".join(forms) + "/" if forms else ""


def _hromada(raw: dict[str, str], category: str) -> Row:
    return {
        "katottg": raw["katottg"].strip(),
        "name_uk": raw["name_uk"].strip(),
        "name_latin": raw["name_en_or_latin_if_available"].strip(),
        "name_key": fold(raw["name_uk"]),
        "name_forms": _forms(raw["name_uk"].strip(), raw["oblast_uk"].strip()),
        "oblast": raw["oblast_uk"].strip(),
        "raion": _text(raw["raion_uk"]),
        "admin_centre": _text(raw["admin_centre_uk"]),
        "admin_centre_category": _text(raw["admin_centre_category_uk"]),
        "category": category,
    }


def _ordinary_hromada(raw: dict[str, str]) -> Row:
    return _hromada(raw, "hromada")


def _crimea_or_special_city(raw: dict[str, str]) -> Row:
    # The file holds the occupied Crimean hromadas plus Kyiv and Sevastopol (codifier category
    # K); only the oblast tells them apart.
    category = "crimea" if raw["oblast_uk"].strip() == CRIMEA_OBLAST else "special_city"
    return _hromada(raw, category)


def _settlement(raw: dict[str, str]) -> Row:
    return {
        "katottg": raw["katottg"].strip(),
        "name_uk": raw["name_uk"].strip(),
        "name_key": fold(raw["name_uk"]),
        "name_forms": _forms(raw["name_uk"].strip(), raw["oblast_uk"].strip()),
        "category": raw["category_uk"].strip(),
        "hromada_katottg": _text(raw["hromada_katottg"]),
        "raion": _text(raw["raion_uk"]),
        "oblast": raw["oblast_uk"].strip(),
    }


@dataclass(frozen=True)
class Dataset:
    """One CSV file and the part of a table it owns.

    Two files share the hromada table, so "rows no longer in the file" is judged only among the
    rows with the categories that file produces (`categories`); None means the whole table.
    """

    name: str
    table: Table
    convert: Callable[[dict[str, str]], Row]
    categories: tuple[str, ...] | None = None
    # Tables the conversion also reads (the exonyms), so editing them reloads this file.
    derived_from: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"

    @property
    def key(self) -> str:
        (column,) = self.table.primary_key.columns
        return column.name

    def scope(self) -> ColumnElement[bool] | None:
        if self.categories is None:
            return None
        return self.table.c.category.in_(self.categories)


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


NAMING_TABLES = ("pl_exonyms.csv",)

DATASETS: tuple[Dataset, ...] = (
    Dataset("pl_gminas", _table(Gmina), _gmina),
    Dataset("pl_powiaty", _table(Powiat), _powiat),
    Dataset("ua_hromadas", _table(Hromada), _ordinary_hromada, ("hromada",), NAMING_TABLES),
    Dataset(
        "ua_hromadas_crimea_and_special_cities",
        _table(Hromada),
        _crimea_or_special_city,
        ("crimea", "special_city"),
        NAMING_TABLES,
    ),
    Dataset("ua_settlements", _table(Settlement), _settlement, None, NAMING_TABLES),
)


def read_rows(dataset: Dataset, content: bytes) -> Iterator[Row]:
    """Parse a file's bytes into table rows, refusing a missing column or a repeated code.

    Rows are produced one at a time (the settlements file is 30,000 rows; held whole as dicts
    it cost a first start about 50 MB). A repeated code would make PostgreSQL's ON CONFLICT
    fail half-way ("cannot affect row a second time"), so it is reported with the file name
    and line; the load runs in one transaction, so an error leaves the previous data.
    """
    text = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text)
    seen: set[str] = set()
    try:
        for raw in reader:
            row = dataset.convert(raw)
            code = row[dataset.key]
            if not code:
                raise ValueError(f"empty {dataset.key} on line {reader.line_num}")
            if code in seen:
                raise ValueError(f"{dataset.key} {code} repeated on line {reader.line_num}")
            seen.add(code)
            yield row
    except KeyError as exc:
        raise ValueError(f"{dataset.filename}: missing column {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{dataset.filename}: {exc}") from exc


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _upsert_statement(dialect_name: str, table: Table) -> Any:
    """INSERT … ON CONFLICT (primary key) DO UPDATE SET every other column, per dialect."""
    if dialect_name == "postgresql":
        stmt: Any = postgresql.insert(table)
    elif dialect_name == "sqlite":
        stmt = sqlite.insert(table)
    else:
        raise NotImplementedError(f"reference loading does not support {dialect_name}")
    keys = [column.name for column in table.primary_key.columns]
    updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    return stmt.on_conflict_do_update(index_elements=keys, set_=updates)


async def _upsert(connection: AsyncConnection, dataset: Dataset, rows: Iterable[Row]) -> set[str]:
    """Insert or update the rows, a chunk at a time; returns their codes."""
    # executemany with one parameter set per row: SQLAlchemy compiles the statement once, where
    # a multi-row .values([...]) would be compiled afresh per chunk (ten times slower here).
    statement = _upsert_statement(connection.dialect.name, dataset.table)
    rows_per_chunk = min(2_000, MAX_BIND_PARAMETERS // len(dataset.table.columns))
    codes: set[str] = set()
    for chunk in _chunks(rows, rows_per_chunk):
        await connection.execute(statement, chunk)
        codes.update(row[dataset.key] for row in chunk)
    return codes


async def _delete_missing(connection: AsyncConnection, dataset: Dataset, codes: set[str]) -> int:
    """Delete the dataset's rows whose code is no longer in the file; returns how many."""
    column = dataset.table.c[dataset.key]
    query = select(column)
    scope = dataset.scope()
    if scope is not None:
        query = query.where(scope)
    existing = set((await connection.scalars(query)).all())
    stale = sorted(existing - codes)
    for chunk in _chunks(stale, MAX_BIND_PARAMETERS):
        await connection.execute(delete(dataset.table).where(column.in_(chunk)))
    return len(stale)


async def _record(connection: AsyncConnection, name: str, sha256: str, rows: int) -> None:
    statement = _upsert_statement(connection.dialect.name, _table(ReferenceDataset))
    await connection.execute(
        statement.values(name=name, sha256=sha256, rows=rows, loaded_at=utcnow())
    )


async def load_reference(
    engine: AsyncEngine, directory: Path = REFERENCE_DIR, *, force: bool = False
) -> dict[str, int]:
    """Bring the reference tables in line with the CSV files in `directory`.

    Returns {dataset: rows loaded}, 0 for a dataset whose file is unchanged since the last load.
    `force` reloads every file even when its sha256 matches (e.g. after a table was edited by
    hand). Everything happens in one transaction: a failure leaves the previous data in place.
    """
    contents = {dataset.name: (directory / dataset.filename).read_bytes() for dataset in DATASETS}
    loaded: dict[str, int] = {}
    async with engine.begin() as connection:
        result = await connection.execute(select(ReferenceDataset.name, ReferenceDataset.sha256))
        recorded = dict(result.all())
        for dataset in DATASETS:
            content = contents[dataset.name]
            digest = hashlib.sha256(content)
            if dataset.derived_from:
                digest.update(FORMS_VERSION)
                for name in dataset.derived_from:
                    digest.update((REFERENCE_DIR / name).read_bytes())
            sha256 = digest.hexdigest()
            if not force and recorded.get(dataset.name) == sha256:
                loaded[dataset.name] = 0
                continue
            codes = await _upsert(connection, dataset, read_rows(dataset, content))
            await _delete_missing(connection, dataset, codes)
            await _record(connection, dataset.name, sha256, len(codes))
            loaded[dataset.name] = len(codes)
    return loaded
