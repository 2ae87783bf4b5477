"""Search Polish gminas and powiats and Ukrainian hromadas by name, for the pickers.

People type names however their keyboard lets them: "Łódź", "lodz", "Біла Церква", "bila
tserkva", or only the village they live in. Names and queries are folded to the same ASCII key
(`db.textfold.fold`) and matched in SQL against the indexed `name_key` columns, best first:
the whole key equal, then the key or one of its words starting with the query, then the query
anywhere in it. Only when that finds nothing does a small in-process typo index get a say
("Wadowce" → Wadowice); it only picks codes, and the rows shown still come from the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from db.models import Gmina, Hromada, Powiat, ReferenceDataset, Settlement
from db.textfold import fold

MIN_QUERY_LENGTH = 2
HROMADA_CATEGORIES = ("hromada", "crimea", "special_city")

# Generic words people add around a name ("gmina Wadowice", "Білоцерківська міська ТГ",
# "с. Яблунівка"). They are dropped from the ends of the query, never from its only word, and
# only where no real name puts them (so "Nowe Miasto" and "Нове Село" keep their last word).
_GMINA_LEADING = frozenset({"gmina", "gm", "miasto", "m"})
_POWIAT_LEADING = frozenset({"powiat", "pow", "miasto", "m"})
_HROMADA_LEADING = frozenset({"selo", "s", "selyshche", "smt", "misto", "m", "hromada"})
_HROMADA_TRAILING = frozenset(
    {
        "hromada",
        "hromady",
        "gromada",
        "terytorialna",
        "miska",
        "silska",
        "selyshchna",
        "th",
        "oth",
        "tg",
        "otg",
    }
)
# Settlement categories as stored (codifier wording): towns before villages when ranks tie.
_SETTLEMENT_WEIGHT = {"місто": 0, "селище": 1, "село": 2}


@dataclass(frozen=True)
class GminaMatch:
    teryt: str
    name: str
    kind: str
    powiat: str
    voivodeship: str
    population: int | None
    population_year: int | None
    population_note: str | None
    fuzzy: bool = False  # found only by typo tolerance: a picker may ask "did you mean"


@dataclass(frozen=True)
class PowiatMatch:
    teryt: str
    name: str
    kind: str
    voivodeship: str
    population: int | None
    population_year: int | None
    # The gmina whose name matched, when it was not the powiat's own name.
    via_gmina: str | None = None
    fuzzy: bool = False


@dataclass(frozen=True)
class HromadaMatch:
    katottg: str
    name_uk: str
    name_latin: str
    oblast: str
    raion: str | None
    category: str
    admin_centre: str | None
    admin_centre_category: str | None = None
    # The village or town whose name matched, when it was not the hromada's own name.
    via_settlement: str | None = None
    fuzzy: bool = False


def _gmina_match(row: Gmina, *, fuzzy: bool = False) -> GminaMatch:
    return GminaMatch(
        teryt=row.teryt,
        name=row.name,
        kind=row.kind,
        powiat=row.powiat,
        voivodeship=row.voivodeship,
        population=row.population,
        population_year=row.population_year,
        population_note=row.population_note,
        fuzzy=fuzzy,
    )


def _powiat_match(row: Powiat, via: str | None = None, *, fuzzy: bool = False) -> PowiatMatch:
    return PowiatMatch(
        teryt=row.teryt,
        name=row.name,
        kind=row.kind,
        voivodeship=row.voivodeship,
        population=row.population,
        population_year=row.population_year,
        via_gmina=via,
        fuzzy=fuzzy,
    )


def _hromada_match(row: Hromada, via: str | None = None, *, fuzzy: bool = False) -> HromadaMatch:
    return HromadaMatch(
        katottg=row.katottg,
        name_uk=row.name_uk,
        name_latin=row.name_latin,
        oblast=row.oblast,
        raion=row.raion,
        category=row.category,
        admin_centre=row.admin_centre,
        admin_centre_category=row.admin_centre_category,
        via_settlement=via,
        fuzzy=fuzzy,
    )


def _via(name: str | None, own_key: str) -> str | None:
    """The matched sub-place's name, or None when it only repeats the place's own name.

    The city powiat Kraków found through the gmina Kraków needs no "via Kraków".
    """
    return None if name is None or fold(name) == own_key else name


def query_key(
    query: str, leading: frozenset[str] = frozenset(), trailing: frozenset[str] = frozenset()
) -> str:
    """Fold a query and drop generic words at its ends; "" when too short to search."""
    words = fold(query).split()
    while len(words) > 1 and words[0] in leading:
        words.pop(0)
    while len(words) > 1 and words[-1] in trailing:
        words.pop()
    key = " ".join(words)
    return key if len(key) >= MIN_QUERY_LENGTH else ""


def _rank(
    key: SQLColumnExpression[str], query: str, forms: SQLColumnExpression[str] | None = None
) -> ColumnElement[int]:
    """0 exact, 1 the key starts with the query, 2 a later word does, 3 anywhere.

    `forms` holds other spellings as "/kijow/kiev/": "/kijow/" is a whole form, "/kij" a form's
    start. `autoescape` escapes % and _ (folded keys cannot hold them, but the guard costs
    nothing).
    """
    exact: list[tuple[ColumnElement[bool], int]] = [(key == query, 0)]
    starts: list[tuple[ColumnElement[bool], int]] = [(key.startswith(query, autoescape=True), 1)]
    word: list[tuple[ColumnElement[bool], int]] = [
        (key.contains(" " + query, autoescape=True), 2)
    ]
    if forms is not None:
        exact.append((forms.contains(f"/{query}/", autoescape=True), 0))
        starts.append((forms.contains(f"/{query}", autoescape=True), 1))
        word.append((forms.contains(" " + query, autoescape=True), 2))
    return case(*exact, *starts, *word, else_=3)


def _matches(
    key: SQLColumnExpression[str], query: str, forms: SQLColumnExpression[str] | None = None
) -> ColumnElement[bool]:
    found = key.contains(query, autoescape=True)
    if forms is not None:
        return or_(found, forms.contains(query, autoescape=True))
    return found


# --- Poland -----------------------------------------------------------------------------------


async def search_gminas(session: AsyncSession, query: str, limit: int = 8) -> list[GminaMatch]:
    """Gminas whose name matches, best first; bigger gminas first among equally good matches.

    Names repeat (Bolesławiec is a gmina miejska and a gmina wiejska), so a picker should show
    `kind` and `powiat` next to the name.
    """
    key = query_key(query, leading=_GMINA_LEADING)
    if not key or limit < 1:
        return []
    rank = _rank(Gmina.name_key, key)
    stmt = (
        select(Gmina)
        .where(_matches(Gmina.name_key, key))
        .order_by(
            rank,
            Gmina.population.desc().nulls_last(),
            func.length(Gmina.name_key),
            Gmina.name,
            Gmina.teryt,
        )
        .limit(limit)
    )
    found = list((await session.scalars(stmt)).all())
    if found:
        return [_gmina_match(row) for row in found]
    codes = list(dict.fromkeys(code for code, _ in await _fuzzy_hits(session, _GMINAS, key, limit)))
    rows = await _rows_by_code(session, Gmina, Gmina.teryt, codes)
    return [_gmina_match(rows[code], fuzzy=True) for code in codes if code in rows]


async def search_powiats(session: AsyncSession, query: str, limit: int = 8) -> list[PowiatMatch]:
    """Powiats (and cities with powiat rights) whose name or one of whose gminas' names matches.

    Powiat names are adjectives ("wadowicki", "łódzki wschodni") that people rarely type; they
    know the town. So a gmina match returns its powiat (the first four TERYT digits) with
    `via_gmina` set, the way a village finds its hromada.
    """
    key = query_key(query, leading=_POWIAT_LEADING)
    if not key or limit < 1:
        return []
    best: dict[str, tuple[tuple[int, int, int], PowiatMatch]] = {}

    def offer(rank: int, via_order: int, row: Powiat, via: str | None) -> None:
        # Same rank: the powiat's own name before a gmina's, then bigger powiats first.
        order = (rank, via_order, -(row.population or 0))
        current = best.get(row.teryt)
        if current is None or order < current[0]:
            best[row.teryt] = (order, _powiat_match(row, _via(via, row.name_key)))

    rank = _rank(Powiat.name_key, key)
    direct = (
        select(Powiat, rank)
        .where(_matches(Powiat.name_key, key))
        .order_by(rank, Powiat.population.desc().nulls_last(), Powiat.teryt)
        .limit(limit)
    )
    for row, row_rank in await session.execute(direct):
        offer(row_rank, 0, row, None)

    gmina_rank = _rank(Gmina.name_key, key)
    powiat_code = func.substr(Gmina.teryt, 1, 4)
    ranked = (
        select(
            powiat_code.label("teryt"),
            Gmina.name.label("via"),
            gmina_rank.label("rank"),
            func.row_number()
            .over(
                partition_by=powiat_code,
                order_by=(gmina_rank, Gmina.population.desc().nulls_last(), Gmina.teryt),
            )
            .label("position"),
        )
        .where(_matches(Gmina.name_key, key))
        .subquery()
    )
    via_gmina = (
        select(Powiat, ranked.c.via, ranked.c.rank)
        .join(ranked, ranked.c.teryt == Powiat.teryt)
        .where(ranked.c.position == 1)
        .order_by(ranked.c.rank, Powiat.population.desc().nulls_last(), Powiat.teryt)
        .limit(limit)
    )
    for row, via, via_rank in await session.execute(via_gmina):
        offer(via_rank, 1, row, via)

    if best:
        return [match for _, match in sorted(best.values(), key=lambda item: item[0])][:limit]
    hits = await _fuzzy_hits(session, _POWIATS, key, limit)
    rows = await _rows_by_code(session, Powiat, Powiat.teryt, [code for code, _ in hits])
    found: dict[str, PowiatMatch] = {}
    for code, via in hits:
        if code in rows and code not in found:
            row = rows[code]
            found[code] = _powiat_match(row, _via(via, row.name_key), fuzzy=True)
    return list(found.values())


async def get_gmina(session: AsyncSession, teryt: str) -> GminaMatch | None:
    row = await session.get(Gmina, teryt)
    return _gmina_match(row) if row is not None else None


async def get_powiat(session: AsyncSession, teryt: str) -> PowiatMatch | None:
    row = await session.get(Powiat, teryt)
    return _powiat_match(row) if row is not None else None


# --- Ukraine ----------------------------------------------------------------------------------


async def search_hromadas(
    session: AsyncSession,
    query: str,
    limit: int = 8,
    categories: Sequence[str] = ("hromada",),
    *,
    fuzzy: bool = True,
) -> list[HromadaMatch]:
    """Hromadas whose own name, or one of whose settlements' names, matches; best first.

    Interns often know their town or village rather than the hromada ("Біла Церква" rather
    than "Білоцерківська"), so a settlement match returns its hromada with `via_settlement` set.
    Crimea and the two special-status cities are left out unless `categories` asks for them.
    """
    key = query_key(query, leading=_HROMADA_LEADING, trailing=_HROMADA_TRAILING)
    categories = tuple(categories)
    if not key or limit < 1 or not categories:
        return []

    # (rank, settlement weight, key length, name) orders both kinds of hit on one scale; a
    # hromada's own name counts like a town.
    best: dict[str, tuple[tuple[int, int, int, str], HromadaMatch]] = {}

    def offer(order: tuple[int, int, int, str], match: HromadaMatch) -> None:
        current = best.get(match.katottg)
        if current is None or order < current[0]:
            best[match.katottg] = (order, match)

    rank = _rank(Hromada.name_key, key, Hromada.name_forms)
    direct = (
        select(Hromada, rank)
        .where(
            _matches(Hromada.name_key, key, Hromada.name_forms),
            Hromada.category.in_(categories),
        )
        .order_by(rank, func.length(Hromada.name_key), Hromada.name_uk, Hromada.katottg)
        .limit(limit)
    )
    for hromada, hromada_rank in await session.execute(direct):
        offer((hromada_rank, 0, len(hromada.name_key), hromada.name_uk), _hromada_match(hromada))

    for hromada, via, via_rank, weight, length in await _hromadas_via_settlements(
        session, key, limit, categories
    ):
        offer((via_rank, weight, length, via), _hromada_match(hromada, via))

    if best or not fuzzy:
        return [match for _, match in sorted(best.values(), key=lambda item: item[0])][:limit]
    return await _fuzzy_hromadas(session, key, limit, categories)


async def search_hromadas_by_typo(
    session: AsyncSession,
    query: str,
    limit: int = 8,
    categories: Sequence[str] = ("hromada",),
) -> list[HromadaMatch]:
    """Only the typo-tolerant part of `search_hromadas`, for a caller whose SQL search (with
    `fuzzy=False`) already found nothing."""
    key = query_key(query, leading=_HROMADA_LEADING, trailing=_HROMADA_TRAILING)
    if not key or limit < 1 or not categories:
        return []
    return await _fuzzy_hromadas(session, key, limit, tuple(categories))


async def _hromadas_via_settlements(
    session: AsyncSession, key: str, limit: int, categories: tuple[str, ...]
) -> list[tuple[Hromada, str, int, int, int]]:
    """(hromada, settlement name, rank, weight, key length) for the best settlement per hromada.

    A common name ("Миколаївка") matches many villages, several in one hromada; the window
    function keeps each hromada's best one so `limit` counts hromadas, not villages.
    """
    rank = _rank(Settlement.name_key, key, Settlement.name_forms)
    weight = case(
        *((Settlement.category == name, value) for name, value in _SETTLEMENT_WEIGHT.items()),
        else_=len(_SETTLEMENT_WEIGHT),
    )
    length = func.length(Settlement.name_key)
    ranked = (
        select(
            Settlement.hromada_katottg.label("hromada_katottg"),
            Settlement.name_uk.label("via"),
            rank.label("rank"),
            weight.label("weight"),
            length.label("length"),
            func.row_number()
            .over(
                partition_by=Settlement.hromada_katottg,
                order_by=(rank, weight, length, Settlement.name_uk, Settlement.katottg),
            )
            .label("position"),
        )
        .join(Hromada, Hromada.katottg == Settlement.hromada_katottg)
        .where(
            _matches(Settlement.name_key, key, Settlement.name_forms),
            Hromada.category.in_(categories),
        )
        .subquery()
    )
    stmt: Select[Any] = (
        select(Hromada, ranked.c.via, ranked.c.rank, ranked.c.weight, ranked.c.length)
        .join(ranked, ranked.c.hromada_katottg == Hromada.katottg)
        .where(ranked.c.position == 1)
        .order_by(ranked.c.rank, ranked.c.weight, ranked.c.length, ranked.c.via, Hromada.katottg)
        .limit(limit)
    )
    return [
        (hromada, via, rank, weight, length)
        for hromada, via, rank, weight, length in await session.execute(stmt)
    ]


async def _fuzzy_hits(
    session: AsyncSession, source: _IndexSource, key: str, limit: int
) -> list[tuple[str, str | None]]:
    index = await _typo_index(session, source)
    return index.nearest(key, limit)


async def _fuzzy_hromadas(
    session: AsyncSession, key: str, limit: int, categories: tuple[str, ...]
) -> list[HromadaMatch]:
    # Ask for more than `limit`: some hits may be in categories the caller left out.
    hits = await _fuzzy_hits(session, _HROMADAS, key, limit * 4)
    codes = list(dict.fromkeys(code for code, _ in hits))
    rows = await _rows_by_code(session, Hromada, Hromada.katottg, codes)
    result: list[HromadaMatch] = []
    seen: set[str] = set()
    for code, via in hits:
        row = rows.get(code)
        if row is None or row.category not in categories or code in seen:
            continue
        seen.add(code)
        result.append(_hromada_match(row, via, fuzzy=True))
    return result[:limit]


async def get_hromada(session: AsyncSession, katottg: str) -> HromadaMatch | None:
    row = await session.get(Hromada, katottg)
    return _hromada_match(row) if row is not None else None


async def _rows_by_code(
    session: AsyncSession, model: Any, column: InstrumentedAttribute[str], codes: Sequence[str]
) -> dict[str, Any]:
    """The rows with these codes, by code: typo hits are codes, the rows come from SQL."""
    if not codes:
        return {}
    rows = (await session.scalars(select(model).where(column.in_(codes)))).all()
    return {getattr(row, column.key): row for row in rows}


# --- Typo tolerance ---------------------------------------------------------------------------


def edit_distance(a: str, b: str, limit: int) -> int | None:
    """Edit distance (insert, delete, substitute, swap neighbours) if it is ≤ limit, else None.

    Stops as soon as every cell of a row exceeds the limit, which is what makes checking
    hundreds of candidates per keystroke cheap.
    """
    if abs(len(a) - len(b)) > limit:
        return None
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
        if min(current) > limit:
            return None
        previous2, previous = previous, current
    return previous[-1] if previous[-1] <= limit else None


def _bigrams(term: str) -> set[str]:
    padded = f" {term} "
    return {padded[i : i + 2] for i in range(len(padded) - 1)}


def max_typos(key: str) -> int:
    """How many typos to forgive: none below 4 characters, where anything is a near miss."""
    if len(key) < 4:
        return 0
    return 1 if len(key) < 7 else 2


@dataclass
class TypoIndex:
    """Folded names (whole and word by word) of one table, findable by edit distance.

    A bigram inverted index narrows ~45,000 terms to the few hundred that share enough bigrams
    with the query to be within the allowed distance; only those get the exact check.
    """

    # term -> [(order, position, code, payload)]: order ranks whole names above words and towns
    # above villages, position keeps the entries' given order (e.g. by population) among ties,
    # payload is e.g. the settlement name.
    terms: dict[str, list[tuple[int, int, str, str | None]]] = field(default_factory=dict)
    by_bigram: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, entries: Iterable[tuple[str, str, str | None, int]]) -> TypoIndex:
        """Entries are (folded name, code, payload, order); lower order wins among equals."""
        terms: dict[str, list[tuple[int, int, str, str | None]]] = defaultdict(list)
        for position, (key, code, payload, order) in enumerate(entries):
            terms[key].append((order, position, code, payload))
            words = key.split()
            if len(words) > 1:
                # "Wadowce" should find "Wadowice Górne" too, a step behind "Wadowice".
                for word in set(words):
                    if len(word) >= 4:
                        terms[word].append((order + 1, position, code, payload))
        by_bigram: dict[str, list[str]] = defaultdict(list)
        for term in terms:
            for bigram in _bigrams(term):
                by_bigram[bigram].append(term)
        return cls(terms=dict(terms), by_bigram=dict(by_bigram))

    def nearest(self, key: str, limit: int) -> list[tuple[str, str | None]]:
        """Up to `limit` (code, payload) pairs at the smallest distance found within max_typos.

        Only the closest distance is kept: when "Wadowce" is one letter off Wadowice, names two
        letters off (Sadowie) are noise.
        """
        allowed = max_typos(key)
        if not allowed or limit < 1:
            return []
        grams = _bigrams(key)
        # One edit changes at most three neighbouring bigrams (a swap), so a term within
        # `allowed` edits shares at least this many of the query's distinct bigrams.
        needed = max(1, len(grams) - 3 * allowed)
        shared: dict[str, int] = defaultdict(int)
        for gram in grams:
            for term in self.by_bigram.get(gram, ()):
                shared[term] += 1
        scored: list[tuple[int, int, int, str, str | None]] = []
        for term, count in shared.items():
            if count < needed:
                continue
            distance = edit_distance(key, term, allowed)
            if distance is None:
                continue
            for order, position, code, payload in self.terms[term]:
                scored.append((distance, order, position, code, payload))
        if not scored:
            return []
        closest = min(item[0] for item in scored)
        scored = sorted((item for item in scored if item[0] == closest), key=lambda item: item[:3])
        result: list[tuple[str, str | None]] = []
        seen: set[tuple[str, str | None]] = set()
        for *_, code, payload in scored:
            if (code, payload) not in seen:
                seen.add((code, payload))
                result.append((code, payload))
            if len(result) == limit:
                break
        return result


Entry = tuple[str, str, str | None, int]  # (folded name, code, payload, order), see TypoIndex


async def _gmina_entries(session: AsyncSession) -> list[Entry]:
    # Bigger gminas first among equally close names.
    rows = await session.execute(
        select(Gmina.name_key, Gmina.teryt).order_by(Gmina.population.desc().nulls_last())
    )
    return [(key, code, None, 0) for key, code in rows]


async def _powiat_entries(session: AsyncSession) -> list[Entry]:
    """Powiat names, then gmina names pointing at their powiat (payload: the gmina's name)."""
    powiats = await session.execute(
        select(Powiat.name_key, Powiat.teryt).order_by(Powiat.population.desc().nulls_last())
    )
    entries: list[Entry] = [(key, code, None, 0) for key, code in powiats]
    gminas = await session.execute(
        select(Gmina.name_key, Gmina.teryt, Gmina.name).order_by(
            Gmina.population.desc().nulls_last()
        )
    )
    entries.extend((key, code[:4], name, 1) for key, code, name in gminas)
    return entries


async def _hromada_entries(session: AsyncSession) -> list[Entry]:
    """Hromada names, then settlement names pointing at their hromada, towns before villages."""
    hromadas = await session.execute(
        select(Hromada.name_key, Hromada.name_forms, Hromada.katottg)
    )
    entries: list[Entry] = [
        (term, code, None, 0) for key, forms, code in hromadas for term in _terms(key, forms)
    ]
    settlements = await session.execute(
        select(
            Settlement.name_key,
            Settlement.name_forms,
            Settlement.hromada_katottg,
            Settlement.name_uk,
            Settlement.category,
        ).where(Settlement.hromada_katottg.is_not(None))
    )
    entries.extend(
        (term, code, name, _SETTLEMENT_WEIGHT.get(category, len(_SETTLEMENT_WEIGHT)))
        for key, forms, code, name, category in settlements
        if code is not None
        for term in _terms(key, forms)
    )
    return entries


def _terms(key: str, forms: str | None) -> list[str]:
    """The KMU key and the other spellings ("Biała Cerkew" is one typo from an exonym)."""
    return [key, *(form for form in (forms or "").split("/") if form)]


@dataclass(frozen=True)
class _IndexSource:
    """What an index is built from; the datasets' sha256s say when to rebuild it."""

    name: str
    datasets: tuple[str, ...]
    entries: Callable[[AsyncSession], Awaitable[list[Entry]]]


_GMINAS = _IndexSource("gmina", ("pl_gminas",), _gmina_entries)
_POWIATS = _IndexSource("powiat", ("pl_powiaty", "pl_gminas"), _powiat_entries)
_HROMADAS = _IndexSource(
    "hromada",
    ("ua_hromadas", "ua_hromadas_crimea_and_special_cities", "ua_settlements"),
    _hromada_entries,
)

# One index per source per process, with the dataset versions it was built from.
_indexes: dict[str, tuple[tuple[tuple[str, str], ...], TypoIndex]] = {}


async def _typo_index(session: AsyncSession, source: _IndexSource) -> TypoIndex:
    """The cached index for `source`, rebuilt when the loaded reference data changed.

    Checking the version costs one small query, and only when SQL found nothing.
    """
    versions = await session.execute(
        select(ReferenceDataset.name, ReferenceDataset.sha256)
        .where(ReferenceDataset.name.in_(source.datasets))
        .order_by(ReferenceDataset.name)
    )
    version = tuple((name, sha256) for name, sha256 in versions)
    cached = _indexes.get(source.name)
    if cached is not None and cached[0] == version:
        return cached[1]
    index = TypoIndex.build(await source.entries(session))
    _indexes[source.name] = (version, index)
    return index


def clear_typo_cache() -> None:
    """Forget the typo indexes (tests; after reference data is edited outside load_reference)."""
    _indexes.clear()
