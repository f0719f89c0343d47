"""Render the fact graph as text: passages of ~``passage_words`` words (100 = wiki-18 style) and one page per
entity.

Talks to: ``world.build`` (facts) and ``world.schema`` (wording). Used by ``world.generate``.

Each entity's facts are shuffled into passages of one to three fact sentences, padded with fact-free
filler prose; sentences on the entity's page list the entities that point to it ("Notable people
from Tessaly include …"). The page is the entity's passages in order plus links to related pages.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from asearcher.knowledge.corpus import Passage
from asearcher.types import Page
from asearcher.world.build import Entity, WorldGraph
from asearcher.world.names import an
from asearcher.world.schema import FILLER, FILLER_WORDS, MENTIONS, REL, RELATIONS, RELS_OF

WIKI_BASE = "https://world.local/wiki/"
COUNT_RELATIONS = {"population", "employees", "attendance"}
_LIST_CAP = 5
"""Names per inverse sentence (hub entities would otherwise get endless lists)."""


def page_url(name: str) -> str:
    return WIKI_BASE + name.replace(" ", "_")


def format_value(rel: str, value: int | str) -> str:
    """How an attribute value is written: counts with thousands separators, years and words as is."""
    if rel in COUNT_RELATIONS:
        return f"{int(value):,}"
    return str(value)


@dataclass(frozen=True)
class Fact:
    """Where one (entity, relation) fact is stated."""

    passage: int
    sentence: str
    query: str
    """The oracle search query for this fact: subject name + the passage's wording."""
    value: str
    """The object's name or the formatted attribute value (the hop's bridge)."""


def _pronouns(e: Entity) -> dict[str, str]:
    if e.type != "person":
        return {"poss": "its", "Pron": "It", "pron": "it", "obj": "it"}
    if e.gender == "f":
        return {"poss": "her", "Pron": "She", "pron": "she", "obj": "her"}
    return {"poss": "his", "Pron": "He", "pron": "he", "obj": "him"}


def _join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


_FIELDS = {tpl: [f for _, f, _, _ in string.Formatter().parse(tpl) if f] for ts in FILLER.values() for tpl in ts}


def _filler(rng: random.Random, e: Entity, used: set[int]) -> str:
    templates = FILLER[e.type]
    choices = [i for i in range(len(templates)) if i not in used] or list(range(len(templates)))
    i = rng.choice(choices)
    used.add(i)
    words = _pronouns(e)
    words["s"] = e.name
    for f in _FIELDS[templates[i]]:
        if f == "adj2":
            words[f] = rng.choice([a for a in FILLER_WORDS["adj"] if a != words.get("adj")])
        elif f in FILLER_WORDS and f not in words:
            words[f] = rng.choice(FILLER_WORDS[f])
    return templates[i].format(**words)


class Renderer:
    """Turns a ``WorldGraph`` into passages, pages and a fact index (deterministic in ``seed``)."""

    def __init__(self, graph: WorldGraph, seed: int, passage_words: int = 100, wording: str = "varied"):
        self.g = graph
        self.passage_words = passage_words
        self.wording = wording
        self.rng = random.Random(f"asearcher-render-{seed}")
        self.passages: list[Passage] = []
        self.facts: dict[tuple[int, str], Fact] = {}
        self.page_of: dict[int, list[int]] = {}
        self._by_type: dict[str, list[Entity]] = {}

    def fact_sentence(self, e: Entity, rel: str) -> tuple[str, str, str]:
        """(sentence, oracle query, value) for one fact: a randomly chosen wording (``varied``) or the
        relation's first one (``fixed``)."""
        r = REL[rel]
        value = self.g.entities[e.rels[rel]].name if r.target else format_value(rel, e.attrs[rel])
        template, phrase = r.facts[0] if self.wording == "fixed" else self.rng.choice(r.facts)
        sentence = template.format(s=e.name, o=value, a=an(value), **_pronouns(e))
        return sentence, f"{e.name} {phrase}", value

    def _inverse_sentences(self) -> dict[int, list[str]]:
        pointing: dict[tuple[int, str], list[str]] = {}
        for e in self.g.entities:
            for rel, target in e.rels.items():
                if REL[rel].inverse:
                    pointing.setdefault((target, rel), []).append(e.name)
        out: dict[int, list[str]] = {}
        for r in RELATIONS:  # fixed relation order keeps the output deterministic
            for e in self.g.entities:
                names = pointing.get((e.idx, r.name))
                if names:
                    shown = names if len(names) <= _LIST_CAP else self.rng.sample(names, _LIST_CAP)
                    out.setdefault(e.idx, []).append(r.inverse.format(o=e.name, list=_join_names(shown)))
        return out

    def render(self) -> None:
        inverse = self._inverse_sentences()
        for e in self.g.entities:
            facts = [(rel.name, *self.fact_sentence(e, rel.name)) for rel in RELS_OF[e.type]
                     if rel.name in e.rels or rel.name in e.attrs]
            self.rng.shuffle(facts)
            chunks: list[list[tuple[str | None, str, str, str]]] = []
            i = 0
            while i < len(facts):
                size = self.rng.choice((1, 1, 2))
                chunks.append(facts[i:i + size])
                i += size
            extra = list(inverse.get(e.idx, []))
            if e.twin is not None or self.rng.random() < 0.5:
                extra.append(MENTIONS[e.type].format(s=e.name, m=self._mentioned(e).name))
            for sentence in extra:
                if self.rng.random() < 0.7 or not chunks:
                    chunks.append([(None, sentence, "", "")])
                else:
                    self.rng.choice(chunks).append((None, sentence, "", ""))
            self.page_of[e.idx] = [self._add_passage(e, chunk) for chunk in chunks]

    def _mentioned(self, e: Entity) -> Entity:
        if e.twin is not None:
            return self.g.entities[e.twin]
        if e.type not in self._by_type:
            self._by_type[e.type] = self.g.of_type(e.type)
        pool = self._by_type[e.type]
        i = self.rng.randrange(len(pool))
        return pool[i] if pool[i].idx != e.idx else pool[(i + 1) % len(pool)]

    def _add_passage(self, e: Entity, chunk: list[tuple[str | None, str, str, str]]) -> int:
        sentences = [s for _, s, _, _ in chunk]
        used: set[int] = set()
        spread = round(0.15 * self.passage_words)  # 85..115 words at 100
        target = self.rng.randint(self.passage_words - spread, self.passage_words + spread)
        words = sum(len(s.split()) for s in sentences)
        while words < target:
            filler = _filler(self.rng, e, used)
            words += len(filler.split())
            sentences.insert(self.rng.randint(0, len(sentences)), filler)
        pid = len(self.passages)
        self.passages.append(Passage(str(pid), e.name, " ".join(sentences), page_url(e.name)))
        for rel, sentence, query, value in chunk:
            if rel is not None:
                self.facts[(e.idx, rel)] = Fact(pid, sentence, query, value)
        return pid

    def pages(self) -> list[Page]:
        pointing: dict[int, list[int]] = {}
        for x in self.g.entities:
            for target in x.rels.values():
                pointing.setdefault(target, []).append(x.idx)
        out = []
        for e in self.g.entities:
            body = "\n\n".join(self.passages[i].text for i in self.page_of[e.idx])
            seen, links = {e.idx}, []
            for idx in list(e.rels.values()) + pointing.get(e.idx, []):
                if idx not in seen and len(links) < 12:
                    seen.add(idx)
                    other = self.g.entities[idx]
                    links.append(f"{other.name} ({page_url(other.name)})")
            if links:
                body += "\n\nSee also: " + "; ".join(links) + "."
            out.append(Page(url=page_url(e.name), title=e.name, contents=body))
        return out
