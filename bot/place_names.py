"""Place names in the reader's language: one module that renders a gmina, powiat or hromada.

A Polish reader sees Ukrainian places in Polish (the exonym where Polish has one, "Biała
Cerkiew", "Lwów"; otherwise the Polish transcription of the Ukrainian name, "Jabłuniwka"), an
English reader the official KMU-2010 romanisation, a Ukrainian reader the Codifier's own
Ukrainian. Polish gminas keep their Polish names in every language; only the words around them
("gmina miejska", "міська гміна", "urban gmina") change.

The grammar differs by language ("obwód kijowski" / "Київська обл." / "Kyivska oblast"; the
Ukrainian hromada's kind sits between the adjective and the noun), so the phrases are built here
per language rather than through one gettext template. The words come from small tables in
`db/reference/` (exonyms, oblasts, raion centres, voivodeships), read once per process. The
Polish transcription, the exonyms and the other spellings a place is searched by are in
db/place_spellings.py, shared with the reference loader that stores them.

Decisions (documented in db/reference/SOURCES.md):
- A hromada in Polish is "hromada <centre>", named after its administrative centre
  ("hromada Biała Cerkiew"), when the hromada is named after it; otherwise "hromada
  <transcribed name>" ("hromada Prystołyczna").
- A raion in Polish is "rejon <centre>" ("rejon Biała Cerkiew"), so exonyms apply to raions too;
  the few raions whose centre is unknown fall back to the transcribed adjective.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from db.place_spellings import exonyms, normal_name, reference_rows, search_forms, transcribe_pl
from db.textfold import fold, romanise_uk

SPECIAL_CITY = "місто зі спеціальним статусом"
CRIMEA = "Автономна Республіка Крим"

# --- Tables -------------------------------------------------------------------------------------


@cache
def _oblasts() -> dict[str, tuple[str, str]]:
    """Oblast (Codifier name) → (Polish name, the short English name people use, e.g. Kyiv)."""
    return {row["oblast_uk"]: (row["name_pl"], row["name_en_common"]) for row in reference_rows(
        "ua_oblasts.csv")}


@cache
def _raion_centres() -> dict[tuple[str, str], str]:
    return {
        (row["oblast_uk"], row["raion_uk"]): row["centre_uk"]
        for row in reference_rows("ua_raions.csv")
        if row["centre_uk"]
    }


@cache
def _voivodeships_uk() -> dict[str, str]:
    return {row["voivodeship"]: row["name_uk"] for row in reference_rows("pl_voivodeships.csv")}


# --- Ukrainian places ---------------------------------------------------------------------------


def settlement_name(name_uk: str, oblast_uk: str | None, language: str) -> str:
    """A town or village: as written in Ukrainian, the Polish exonym or transcription, or KMU."""
    if language == "uk":
        return name_uk
    if language == "pl":
        found = exonyms().get((normal_name(name_uk), oblast_uk or ""))
        return found[0] if found else transcribe_pl(name_uk)
    return romanise_uk(normal_name(name_uk))


def oblast_name(oblast_uk: str | None, language: str, *, short: bool = True) -> str:
    """"Київська обл." / "obwód kijowski" / "Kyivska oblast"; Crimea is named in full."""
    if not oblast_uk:
        return ""
    if language == "uk":
        if short and oblast_uk.endswith(" область"):
            return oblast_uk.removesuffix("область") + "обл."
        return oblast_uk
    if language == "pl":
        found = _oblasts().get(oblast_uk)
        return found[0] if found else transcribe_pl(oblast_uk)
    return romanise_uk(oblast_uk)


def raion_name(raion_uk: str | None, oblast_uk: str | None, language: str) -> str:
    """"Білоцерківський р-н" / "rejon Biała Cerkiew" / "Bilotserkivskyi raion"."""
    if not raion_uk:
        return ""
    if language == "uk":
        return raion_uk.removesuffix("район") + "р-н" if raion_uk.endswith(" район") else raion_uk
    if language == "pl":
        centre = _raion_centres().get((oblast_uk or "", raion_uk))
        if centre:
            return "rejon " + settlement_name(centre, oblast_uk, "pl")
        adjective = transcribe_pl(raion_uk.removesuffix(" район"))
        for ending, polish in (("śkyj", "ski"), ("ćkyj", "cki"), ("kyj", "ki"), ("yj", "y")):
            if adjective.endswith(ending):
                adjective = adjective.removesuffix(ending) + polish
                break
        return "rejon " + adjective.lower()
    return romanise_uk(raion_uk)


# Kind of hromada by its centre (the Law on local self-government names them so).
_HROMADA_KINDS = {
    "uk": {"місто": "міська", "селище": "селищна", "село": "сільська"},
    "pl": {"місто": "miejska", "селище": "osiedlowa", "село": "wiejska"},
    "en": {"місто": "urban", "селище": "settlement", "село": "rural"},
}


def hromada_kind(place: Mapping[str, Any], language: str) -> str | None:
    """"міська" / "miejska" / "urban", from the category of the hromada's centre."""
    table = _HROMADA_KINDS.get(language, _HROMADA_KINDS["en"])
    return table.get(str(place.get("admin_centre_category") or ""))


def _named_after_centre(name_uk: str, centre: str | None) -> bool:
    """Білоцерківська is named after Біла Церква; Пристолична (centre Щасливе) is not."""
    return bool(centre) and fold(name_uk)[:3] == fold(centre or "")[:3]


def hromada_name(place: Mapping[str, Any], language: str) -> str:
    """The hromada alone: "Білоцерківська міська громада" / "hromada Biała Cerkiew" /
    "Bilotserkivska urban hromada"; Kyiv, a city with special status, is "місто Київ" /
    "Kijów" / "Kyiv".
    """
    name_uk = str(place.get("name_uk") or "")
    oblast = place.get("oblast")
    centre = place.get("admin_centre")
    if place.get("category") == "special_city" or oblast == SPECIAL_CITY:
        if language == "uk":
            return f"місто {name_uk}"
        return settlement_name(name_uk, SPECIAL_CITY, language)
    kind = hromada_kind(place, language)
    if language == "uk":
        return f"{name_uk} {kind} громада" if kind else f"{name_uk} громада"
    if language == "pl":
        if centre and _named_after_centre(name_uk, centre):
            return "hromada " + settlement_name(centre, oblast, "pl")
        return "hromada " + transcribe_pl(name_uk)
    # As the Ukrainian: "Bilotserkivska urban hromada" (two Pokrovska hromadas share a raion).
    if kind:
        return f"{romanise_uk(normal_name(name_uk))} {kind} hromada"
    return str(place.get("name_latin") or romanise_uk(normal_name(name_uk)) + " hromada")


def describe_hromada(place: Mapping[str, Any], language: str, *, short: bool = True) -> str:
    """"Білоцерківська міська громада, Білоцерківський р-н, Київська обл." and the like."""
    oblast = place.get("oblast")
    parts = [hromada_name(place, language)]
    if oblast != SPECIAL_CITY:
        parts += [
            raion_name(place.get("raion"), oblast, language),
            oblast_name(oblast, language, short=short),
        ]
    return ", ".join(part for part in parts if part)


# --- Polish places ------------------------------------------------------------------------------

_GMINA_KINDS: dict[str, dict[str, str]] = {
    "pl": {},  # the TERC wording is already Polish
    "uk": {
        "gmina miejska": "міська гміна",
        "gmina wiejska": "сільська гміна",
        "gmina miejsko-wiejska": "місько-сільська гміна",
        "miasto na prawach powiatu": "місто на правах повіту",
        "powiat": "повіт",
    },
    "en": {
        "gmina miejska": "urban gmina",
        "gmina wiejska": "rural gmina",
        "gmina miejsko-wiejska": "urban-rural gmina",
        "miasto na prawach powiatu": "city with powiat rights",
        "powiat": "powiat",
    },
}
CITY_WITH_POWIAT_RIGHTS = "miasto na prawach powiatu"


def kind_name(kind: str, language: str) -> str:
    return _GMINA_KINDS.get(language, {}).get(kind, kind)


def voivodeship_name(voivodeship: str | None, language: str) -> str:
    if not voivodeship:
        return ""
    if language == "uk":
        return _voivodeships_uk().get(voivodeship, voivodeship)
    return voivodeship


def powiat_name(name: str, kind: str, language: str) -> str:
    """"powiat sejneński" / "повіт sejneński"; a city with powiat rights is just its name."""
    if kind == CITY_WITH_POWIAT_RIGHTS:
        return name
    return f"{kind_name('powiat', language)} {name}"


def describe_gmina(place: Mapping[str, Any], language: str) -> str:
    """"Wadowice (gmina miejsko-wiejska, powiat wadowicki, małopolskie)"; no powiat for a city
    with powiat rights, whose powiat is itself."""
    kind = str(place.get("kind") or "")
    parts = [kind_name(kind, language)]
    if kind != CITY_WITH_POWIAT_RIGHTS and place.get("powiat"):
        parts.append(powiat_name(str(place["powiat"]), "powiat", language))
    parts.append(voivodeship_name(place.get("voivodeship"), language))
    return f"{place.get('name', '')} ({', '.join(p for p in parts if p)})"


def describe_powiat(place: Mapping[str, Any], language: str) -> str:
    kind = str(place.get("kind") or "powiat")
    name = str(place.get("name") or "")
    region = voivodeship_name(place.get("voivodeship"), language)
    if kind == CITY_WITH_POWIAT_RIGHTS:
        return f"{name} ({kind_name(kind, language)}, {region})"
    return f"{powiat_name(name, kind, language)} ({region})"


def place_title(place: Mapping[str, Any], language: str) -> str:
    """The place's name alone, in the reader's language: a heading for a verdict or a card."""
    if "katottg" in place:
        return hromada_name(place, language)
    if "powiat" not in place:  # a powiat record
        return powiat_name(str(place.get("name") or ""), str(place.get("kind") or ""), language)
    return str(place.get("name") or "")


def describe(place: Mapping[str, Any], language: str) -> str:
    """One line naming any stored place (a picker's snapshot) so namesakes are told apart."""
    if "katottg" in place:
        return describe_hromada(place, language)
    if "powiat" in place:
        return describe_gmina(place, language)
    return describe_powiat(place, language)


def region_name(region: str, language: str) -> str:
    """A voivodeship (Polish, lower case) or an oblast (Codifier) as a statistic's label."""
    if region in _oblasts() or region.endswith(" область"):
        return oblast_name(region, language, short=False)
    return voivodeship_name(region, language)


# --- Search -------------------------------------------------------------------------------------


def region_keys(oblast_uk: str | None, raion_uk: str | None) -> frozenset[str]:
    """Folded words naming a hromada's oblast and raion in every language, for narrowing a
    search by them ("Яблунівка київська", "yablunivka kyiv", "Jabłuniwka kijowski")."""
    return _region_keys(oblast_uk or "", raion_uk or "")


@cache
def _region_keys(oblast_uk: str, raion_uk: str) -> frozenset[str]:
    texts = [oblast_uk, raion_uk, oblast_name(oblast_uk, "pl"), raion_name(raion_uk, oblast_uk,
                                                                          "pl")]
    found = _oblasts().get(oblast_uk)
    if found:
        texts.append(found[1])
    centre = _raion_centres().get((oblast_uk, raion_uk))
    if centre:
        texts += [centre, *search_forms(centre, oblast_uk)]
    generic = {"oblast", "obl", "raion", "rejon", "obwod", "r", "n", "misto", "zi", "spetsialnym",
               "statusom"}
    return frozenset(word for text in texts for word in fold(text).split()
                     if word not in generic and len(word) >= 3)


@cache
def all_region_keys() -> frozenset[str]:
    """Every word `region_keys` knows, so a query whose last word names no region is not
    searched again as "name + region" (most two-word names: "Біла Церква", "Нове Село")."""
    keys: set[str] = set()
    for row in reference_rows("ua_raions.csv"):
        keys |= _region_keys(row["oblast_uk"], row["raion_uk"])
    return frozenset(keys)
