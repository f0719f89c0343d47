"""Name generator: unique stems, template words reserved, deliberate near-identical twins."""

from __future__ import annotations

import random

from asearcher.knowledge.bm25 import tokenize
from asearcher.world.names import NameGenerator, _plural_toggle, an


def test_plural_toggle_round_trips_and_stems_alike():
    for word, other in [("Orchard", "Orchards"), ("Compass", "Compasses"), ("Hourglass", "Hourglasses")]:
        assert _plural_toggle(word) == other
        assert _plural_toggle(other) == word
        assert tokenize(word) == tokenize(other)


def test_indefinite_article():
    assert an("architect") == "an"
    assert an("composer") == "a"


def test_roots_are_unique_after_stemming_and_avoid_reserved_words():
    gen = NameGenerator(random.Random(1), reserved={"orchard", "press"})
    stems = [tokenize(gen.root())[0] for _ in range(2000)]
    assert len(set(stems)) == len(stems)
    assert "orchard" not in stems and "press" not in stems


def test_full_names_never_collide_case_insensitively():
    gen = NameGenerator(random.Random(2), reserved=set())
    assert gen.claim("Mara Velin")
    assert not gen.claim("mara velin")
    names = [gen.person("f") for _ in range(500)]
    assert len({n.casefold() for n in names}) == 500


def test_twins_are_near_identical_but_distinct():
    gen = NameGenerator(random.Random(3), reserved=set())
    assert gen.twin("Corvel Dynamics", "org") == "Corvel Dynamic Group"
    assert gen.twin("The Glass Orchard", "work") == "The Glass Orchards"
    assert gen.twin("Orvanne Lantern Festival", "event") == "Orvanne Lanterns Festival"
    person = gen.twin("Mara Velin", "person")
    assert person != "Mara Velin" and "Vel" in person
    city = gen.twin("Tessaly", "city")
    assert "Tessaly" in city and city != "Tessaly"
    # the org twin shares every stem but one extra token: BM25 alone cannot tell them apart well
    assert set(tokenize("Corvel Dynamics")) < set(tokenize("Corvel Dynamic Group"))
