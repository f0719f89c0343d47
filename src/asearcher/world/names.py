"""Pronounceable fictional names from seeded syllables, with near-identical "twin" variants.

Talks to: nothing (pure, driven by a ``random.Random``). Used by ``world.build``.

Every identifying root word is unique after stemming (so BM25 never conflates two roots by accident)
and never one of the words our templates use. Twins are deliberate: "Corvel Dynamics" / "Corvel Dynamic
Group" stem to nearly the same tokens, "The Glass Orchard" / "The Glass Orchards" to the same ones.
"""

from __future__ import annotations

import random

from asearcher.knowledge.bm25 import tokenize

_SIMPLE_ONSETS = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"]
_ONSETS = _SIMPLE_ONSETS * 3 + ["br", "dr", "gr", "kr", "st", "tr", "th", "fl", "pl", "sh"]
_VOWELS = ["a", "e", "i", "o", "u"] * 4 + ["ai", "ei", "ou", "ia"]
_MID_CODAS = ["", "", "", "n", "r", "l"]
_END_CODAS = ["", "n", "r", "l", "s", "th", "m", "nd", "rd", "x", "v", "rk", "ll"]
_FEMININE_ENDS = ["a", "ia", "ela", "ine", "ora", "ette", "is"]
_MASCULINE_ENDS = ["an", "or", "en", "ald", "ric", "us", "ek"]

_ADJECTIVES = ["Glass", "Silent", "Amber", "Hollow", "Crimson", "Distant", "Broken", "Silver", "Winter",
               "Hidden", "Golden", "Paper", "Iron", "Velvet", "Quiet", "Burning", "Salt", "Pale", "Wild",
               "Last", "Northern", "Painted", "Drowned", "Restless", "Copper", "Secret", "Falling", "Ivory",
               "Wandering", "Lonely", "Bitter", "Scarlet", "Emerald", "Sleeping", "Shattered", "Marble"]
_NOUNS = ["Orchard", "Lantern", "Harbor", "Garden", "Mirror", "River", "Crown", "Letter", "Bridge",
          "Tower", "Compass", "Feather", "Meadow", "Voyage", "Orchid", "Anchor", "Candle", "Window",
          "Harvest", "Island", "Forest", "Kingdom", "Shadow", "Season", "Sparrow", "Hourglass", "Violin",
          "Citadel", "Lighthouse", "Cathedral", "Carnival", "Mountain", "Tide", "Ember", "Thread", "Chorus"]
_EVENT_WORDS = ["Lantern", "Harvest", "Tide", "Iron", "Summer", "Glass", "Falcon", "Cedar", "Comet",
                "Star", "Ember", "Maple", "River", "Frost", "Thistle", "Beacon", "Sail", "Bell", "Orchard"]
_CITY_TWIN_PATTERNS = ["Port {r}", "New {r}", "{r} Falls", "Upper {r}", "{r} Crossing", "Old {r}"]


def _plural_toggle(word: str) -> str:
    """"Orchard" ↔ "Orchards", "Compass" ↔ "Compasses" (stemming maps both forms to one token)."""
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("ss") or not word.endswith("s"):
        return word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")
    return word[:-1]


def an(word: str) -> str:
    """The indefinite article for ``word``."""
    return "an" if word[:1].lower() in "aeiou" else "a"


class NameGenerator:
    """Unique fictional names; ``reserved`` holds template words no root may equal (after stemming)."""

    def __init__(self, rng: random.Random, reserved: set[str]):
        self.rng = rng
        self._stems: set[str] = {s for w in reserved for s in tokenize(w)}
        self._names: set[str] = set()

    def _syllables(self, n: int) -> str:
        r = self.rng
        word, coda = "", ""
        for i in range(n):
            # After a coda only a single consonant may follow ("Cor-vel", never "Cor-stren").
            onset = r.choice(_SIMPLE_ONSETS if coda else _ONSETS)
            coda = r.choice(_END_CODAS if i == n - 1 else _MID_CODAS)
            word += onset + r.choice(_VOWELS) + coda
        return word

    def _claim_root(self, make) -> str:
        for _ in range(10_000):
            word = make().capitalize()
            if len(word) < 4 or len(word) > 10:
                continue
            stems = tokenize(word)
            if len(stems) != 1 or stems[0] in self._stems:
                continue
            self._stems.add(stems[0])
            return word
        raise RuntimeError("name space exhausted; lower the number of entities")  # pragma: no cover

    def root(self) -> str:
        """A new unique root word of 2–3 syllables ("Corvel", "Tessaly")."""
        return self._claim_root(lambda: self._syllables(self.rng.choice((2, 2, 3))))

    def claim(self, name: str) -> bool:
        """Reserve a full name; False when it is taken (case-insensitive)."""
        key = name.casefold()
        if key in self._names:
            return False
        self._names.add(key)
        return True

    def first_name(self, gender: str) -> str:
        """A first name (may repeat across people, like real first names)."""
        ends = _FEMININE_ENDS if gender == "f" else _MASCULINE_ENDS
        return (self.rng.choice(_SIMPLE_ONSETS) + self.rng.choice("aeiou") + self.rng.choice(["", "r", "l", "n"])
                + self.rng.choice(ends)).capitalize()

    def unique(self, make) -> str:
        for _ in range(10_000):
            name = make()
            if self.claim(name):
                return name
        raise RuntimeError("name space exhausted; lower the number of entities")  # pragma: no cover

    # --- base names per type -------------------------------------------------------------------
    def person(self, gender: str) -> str:
        return self.unique(lambda: f"{self.first_name(gender)} {self.root()}")

    def city(self) -> str:
        return self.unique(self.root)

    def country(self) -> str:
        return self.unique(lambda: self.root() + self.rng.choice(["ia", "ora", "land", "mark", "essa"]))

    def org(self, suffix: str) -> str:
        return self.unique(lambda: f"{self.root()} {suffix}")

    def work(self) -> str:
        r = self.rng

        def make() -> str:
            pattern = r.random()
            if pattern < 0.4:
                return f"The {r.choice(_ADJECTIVES)} {r.choice(_NOUNS)}"
            if pattern < 0.7:
                return f"The {r.choice(_NOUNS)} of {self.root()}"
            return f"{_plural_toggle(r.choice(_NOUNS))} of {self.root()}"

        return self.unique(make)

    def event(self, kind: str) -> str:
        return self.unique(lambda: f"{self.root()} {self.rng.choice(_EVENT_WORDS)} {kind.capitalize()}")

    # --- twins ---------------------------------------------------------------------------------
    def twin(self, name: str, etype: str, gender: str = "f") -> str | None:
        """A near-identical name for an entity of the same type, or None if none is free.

        People twins share the surname with a doubled consonant or another first name (of ``gender``)."""
        words = name.split()
        r = self.rng
        candidates: list[str] = []
        if etype == "person":
            first, last = words[0], words[-1]
            doubled = next((last[:i + 1] + last[i] + last[i + 1:] for i in range(1, len(last) - 1)
                            if last[i - 1] in "aeiou" and last[i] in "lnrst" and last[i + 1] in "aeiou"), None)
            if doubled:
                candidates.append(f"{first} {doubled}")
            candidates.append(f"{self.first_name(gender)} {last}")
        elif etype == "org":
            last = words[-1][:-1] if words[-1].endswith("s") and not words[-1].endswith("ss") else words[-1]
            candidates.append(" ".join(words[:-1] + [last, "Group"]))
        elif etype == "city":
            candidates.append(r.choice(_CITY_TWIN_PATTERNS).format(r=name))
        elif etype == "work":
            i = next((i for i, w in enumerate(words) if w in _NOUNS or _plural_toggle(w) in _NOUNS), None)
            if i is not None:
                candidates.append(" ".join(words[:i] + [_plural_toggle(words[i])] + words[i + 1:]))
        elif etype == "event":
            candidates.append(" ".join([words[0], _plural_toggle(words[1])] + words[2:]))
        for c in candidates:
            if self.claim(c):
                return c
        return None


TEMPLATE_WORDS = set(_ADJECTIVES + _NOUNS + _EVENT_WORDS
                     + ["Group", "Port", "New", "Falls", "Upper", "Crossing", "Old"])
