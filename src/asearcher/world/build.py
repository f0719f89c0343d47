"""The world's fact graph: entities of five types with attributes and functional relations.

Talks to: ``world.names`` and ``world.schema``. Used by ``world.render`` (text) and ``world.questions``.

Facts are drawn once here and only rendered elsewhere, so every page and passage states the same facts.
Dates are kept plausible: an organisation opens 22–60 years after its founder's birth, a work appears
20–65 years after its creator's birth and after its publisher opened, a mentor is 12–45 years older
than the pupil, an event's winner is 18–70 years old.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field

from asearcher.world.names import TEMPLATE_WORDS, NameGenerator
from asearcher.world.schema import (
    EVENT_KINDS,
    INDUSTRIES,
    INDUSTRY_WEIGHTS,
    OCCUPATIONS,
    TWIN_SHARE,
    TYPE_SHARE,
    TYPES,
    WORK_KINDS,
    template_words,
)


@dataclass
class Entity:
    idx: int
    type: str
    name: str
    gender: str | None = None
    """``f``/``m`` for people."""
    kind: str | None = None
    """Work kind (novel, film …) or event kind (festival, summit …)."""
    attrs: dict[str, int | str] = field(default_factory=dict)
    rels: dict[str, int] = field(default_factory=dict)
    """Relation name → target entity index."""
    twin: int | None = None
    """Index of the entity with a near-identical name."""


@dataclass
class WorldGraph:
    entities: list[Entity]

    def of_type(self, etype: str) -> list[Entity]:
        return [e for e in self.entities if e.type == etype]


def _counts(n: int) -> dict[str, int]:
    counts = {t: max(2, round(TYPE_SHARE[t] * n)) for t in TYPES}
    counts["person"] += n - sum(counts.values())
    return counts


def _log_uniform(rng: random.Random, lo: int, hi: int, step: int) -> int:
    v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    return max(step, int(round(v / step)) * step)


class _ByYear:
    """Entities sorted by a year attribute, for "pick one born between a and b" draws."""

    def __init__(self, ents: list[Entity], key: str):
        self.ents = sorted(ents, key=lambda e: (e.attrs[key], e.idx))
        self.years = [e.attrs[key] for e in self.ents]

    def pick(self, rng: random.Random, lo: int, hi: int) -> Entity | None:
        a, b = bisect.bisect_left(self.years, lo), bisect.bisect_right(self.years, hi)
        return self.ents[rng.randrange(a, b)] if b > a else None


def build_graph(seed: int, n_entities: int) -> WorldGraph:
    """Draw the entities, names, attributes and relations of a world (deterministic in ``seed``)."""
    rng = random.Random(f"asearcher-world-{seed}")
    names = NameGenerator(rng, template_words() | {w.lower() for w in TEMPLATE_WORDS})
    ents: list[Entity] = []
    countries = [names.country() for _ in range(max(3, n_entities // 40))]
    industries = list(INDUSTRY_WEIGHTS)
    weights = [INDUSTRY_WEIGHTS[i] for i in industries]

    def add(etype: str, name: str, **kw) -> Entity:
        e = Entity(len(ents), etype, name, **kw)
        ents.append(e)
        return e

    for etype, count in _counts(n_entities).items():
        n_pairs = round(count * TWIN_SHARE / 2)
        made = 0
        while made < count:
            gender = rng.choice("fm")
            kind = rng.choice(list(WORK_KINDS) if etype == "work" else EVENT_KINDS) \
                if etype in ("work", "event") else None
            industry = rng.choices(industries, weights)[0] if etype == "org" else None
            if etype == "person":
                name = names.person(gender)
            elif etype == "city":
                name = names.city()
            elif etype == "org":
                name = names.org(rng.choice(INDUSTRIES[industry]))
            elif etype == "work":
                name = names.work()
            else:
                name = names.event(kind)
            e = add(etype, name, gender=gender if etype == "person" else None, kind=kind)
            if industry:
                e.attrs["industry"] = industry
            made += 1
            if made < count and n_pairs > 0:
                g2 = rng.choice("fm")
                twin_name = names.twin(name, etype, g2)
                if twin_name:
                    t = add(etype, twin_name, gender=g2 if etype == "person" else None,
                            kind=kind if etype == "event" else (rng.choice(list(WORK_KINDS)) if etype == "work" else None))
                    if industry:
                        t.attrs["industry"] = industry
                    e.twin, t.twin = t.idx, e.idx
                    made += 1
                    n_pairs -= 1
    _draw_facts(rng, WorldGraph(ents), countries)
    return WorldGraph(ents)


def _draw_facts(rng: random.Random, g: WorldGraph, countries: list[str]) -> None:
    people, cities, orgs = g.of_type("person"), g.of_type("city"), g.of_type("org")
    for c in cities:
        c.attrs.update(country=rng.choice(countries), population=_log_uniform(rng, 2_000, 2_500_000, 100),
                       charter_year=rng.randint(1050, 1850))
    for p in people:
        p.attrs.update(birth_year=rng.randint(1760, 1990), occupation=rng.choice(OCCUPATIONS))
        p.rels["born_in"] = rng.choice(cities).idx
    by_birth = _ByYear(people, "birth_year")
    for p in people:
        mentor = by_birth.pick(rng, p.attrs["birth_year"] - 45, p.attrs["birth_year"] - 12)
        if mentor is not None:
            p.rels["mentor"] = mentor.idx
    for o in orgs:
        founder = by_birth.pick(rng, 1760, 1995 - 22)
        o.rels["founder"] = founder.idx
        o.attrs["founded_year"] = min(2020, founder.attrs["birth_year"] + rng.randint(22, 60))
        o.rels["headquarters"] = rng.choice(cities).idx
        o.attrs["employees"] = _log_uniform(rng, 40, 90_000, 10)
    by_founded = _ByYear(orgs, "founded_year")
    for p in people:
        employer = by_founded.pick(rng, 0, p.attrs["birth_year"] + 55)
        if employer is not None and employer.rels["founder"] != p.idx:
            p.rels["employer"] = employer.idx
    _draw_mayors(rng, people, cities)
    by_occupation: dict[str, list[Entity]] = {}
    for p in people:
        by_occupation.setdefault(p.attrs["occupation"], []).append(p)
    pubs = {ind: _ByYear([o for o in orgs if o.attrs["industry"] == ind], "founded_year") for ind in INDUSTRIES}
    for w in g.of_type("work"):
        info = WORK_KINDS[w.kind]
        creator = rng.choice(by_occupation.get(info["occupation"]) or people)
        w.rels["creator"] = creator.idx
        w.attrs["work_year"] = min(2024, creator.attrs["birth_year"] + rng.randint(20, 65))
        w.attrs["genre"] = rng.choice(info["genres"])
        publisher = pubs[info["industry"]].pick(rng, 0, w.attrs["work_year"])
        if publisher is not None:
            w.rels["publisher"] = publisher.idx
        if w.kind != "album":
            w.rels["setting"] = rng.choice(cities).idx
    for ev in g.of_type("event"):
        org = rng.choice(orgs)
        ev.rels["organizer"] = org.idx
        start = org.attrs["founded_year"] + 1
        ev.attrs["event_year"] = rng.randint(min(start, 2024), min(2024, start + 120))
        ev.attrs["attendance"] = _log_uniform(rng, 300, 250_000, 10)
        ev.rels["venue"] = rng.choice(cities).idx
        winner = by_birth.pick(rng, ev.attrs["event_year"] - 70, ev.attrs["event_year"] - 18)
        if winner is not None:
            ev.rels["winner"] = winner.idx


def _draw_mayors(rng: random.Random, people: list[Entity], cities: list[Entity]) -> None:
    """Each city gets a distinct living mayor, a native when one is available."""
    living = [p for p in people if p.attrs["birth_year"] >= 1945]
    natives: dict[int, list[Entity]] = {}
    for p in living:
        natives.setdefault(p.rels["born_in"], []).append(p)
    taken: set[int] = set()
    for c in cities:
        pool = [p for p in natives.get(c.idx, []) if p.idx not in taken]
        if not pool:
            for _ in range(20):
                cand = rng.choice(living) if living else None
                if cand is not None and cand.idx not in taken:
                    pool = [cand]
                    break
        if pool:
            mayor = rng.choice(pool)
            taken.add(mayor.idx)
            c.rels["mayor"] = mayor.idx
