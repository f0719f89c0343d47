"""What the world is made of: entity types, their attributes and (functional) relations, and the wording
used for each — in passages, in questions, and in the oracle search queries.

Talks to: nothing (data only). Used by ``world.build``, ``world.render`` and ``world.questions``.

Passage wording deliberately differs from question wording ("Who founded X?" / "X was set up by P"),
and some passage wording collides with another relation's question wording ("Where was P born?" finds
"P was born in 1861" first), so a policy has to learn to reformulate, not just copy the question.

Template fields: ``{s}`` subject name, ``{o}`` object name or attribute value, ``{a}`` the indefinite
article of ``{o}``, ``{poss}`` the subject's possessive pronoun, ``{x}`` the noun phrase being asked
about; per-kind words of creative works (``{verb}``, ``{role}``, ``{pub_verb}``, ``{pub_noun}``,
``{released}``) come from ``WORK_KINDS``.
"""

from __future__ import annotations

from dataclasses import dataclass

TYPES = ("person", "city", "org", "work", "event")
TYPE_SHARE = {"person": 0.34, "city": 0.14, "org": 0.20, "work": 0.20, "event": 0.12}
WORDINGS = ("varied", "fixed")
"""How a relation's facts are worded: drawn per entity, or the relation's first wording for every entity."""
TWIN_SHARE = 0.2
"""Share of each type's entities that belong to a pair with near-identical names."""


@dataclass(frozen=True)
class Rel:
    """A functional relation (``target`` = entity type) or an attribute (``target`` None)."""

    name: str
    subject: str
    target: str | None
    facts: tuple[tuple[str, str], ...]
    """(passage sentence, oracle query phrase) pairs; one is chosen per entity."""
    ask: tuple[str, ...]
    """Final-hop questions about ``{x}``."""
    np: tuple[str, ...] = ()
    """Noun phrases naming the target through ``{x}`` (relations only; used in multi-hop questions)."""
    inverse: str | None = None
    """Sentence on the target's page listing its subjects (``{o}`` target, ``{list}`` subjects)."""
    numeric: bool = False


RELATIONS: tuple[Rel, ...] = (
    # ---- person
    Rel("birth_year", "person", None,
        (("{s} was born in {o}.", "born"), ("{s} was born in the year {o}.", "born year")),
        ("In what year was {x} born?", "When was {x} born?"), numeric=True),
    Rel("born_in", "person", "city",
        (("{s} is a native of {o}.", "native of"), ("{s} hails from {o}.", "hails from"),
         ("{s} grew up in {o}, the city of {poss} birth.", "grew up")),
        ("Where was {x} born?", "In which city was {x} born?", "What is the birthplace of {x}?"),
        ("the birthplace of {x}", "the city where {x} was born"),
        "Notable people from {o} include {list}."),
    Rel("occupation", "person", None,
        (("{s} worked as {a} {o}.", "worked as"), ("By profession, {s} was {a} {o}.", "by profession"),
         ("{s} earned a living as {a} {o}.", "earned living")),
        ("What was the profession of {x}?", "What did {x} do for a living?")),
    Rel("employer", "person", "org",
        (("{s} spent most of {poss} career at {o}.", "career at"),
         ("{s} was on the staff of {o} for many years.", "staff of"),
         ("{s} took a position at {o} early in life.", "took position at")),
        ("Which company did {x} work for?", "Who employed {x}?", "For which organization did {x} work?"),
        ("the employer of {x}", "the company {x} worked for"),
        "People who worked at {o} include {list}."),
    Rel("mentor", "person", "person",
        (("{s} trained under {o}.", "trained under"), ("{s} was a protege of {o}.", "protege of"),
         ("{s} learned the trade from {o}.", "learned trade from")),
        ("Who mentored {x}?", "Who was the mentor of {x}?"),
        ("the mentor of {x}", "the person who mentored {x}"),
        "Pupils of {o} included {list}."),
    # ---- city
    Rel("country", "city", None,
        (("{s} lies in {o}.", "lies in"), ("{s} is part of the republic of {o}.", "part of republic")),
        ("In which country is {x} located?", "Which country is {x} in?")),
    Rel("population", "city", None,
        (("{s} is home to {o} residents.", "home residents"), ("{s} has {o} inhabitants.", "inhabitants"),
         ("The last census counted {o} people in {s}.", "census counted")),
        ("What is the population of {x}?", "How many people live in {x}?"), numeric=True),
    Rel("charter_year", "city", None,
        (("{s} received its charter in {o}.", "received charter"),
         ("{s} was granted town rights in {o}.", "granted town rights")),
        ("In what year was {x} granted its town charter?", "When was {x} chartered?"), numeric=True),
    Rel("mayor", "city", "person",
        (("The city council of {s} is led by {o}.", "council led by"),
         ("{o} presides over the council of {s}.", "presides over council"),
         ("{s} is governed by {o}.", "governed by")),
        ("Who is the mayor of {x}?", "Who serves as mayor of {x}?"),
        ("the mayor of {x}",),
        "{o} holds the office of mayor in {list}."),
    # ---- org
    Rel("founder", "org", "person",
        (("{s} was established by {o}.", "established by"), ("{s} was set up by {o}.", "set up by"),
         ("{o} started {s} as a small venture.", "started venture")),
        ("Who founded {x}?", "Who was the founder of {x}?"),
        ("the founder of {x}", "the person who founded {x}"),
        "{o} is credited with creating {list}."),
    Rel("founded_year", "org", None,
        (("{s} opened its doors in {o}.", "opened doors"), ("{s} has traded since {o}.", "traded since"),
         ("{s} began operating in {o}.", "began operating")),
        ("In what year was {x} founded?", "When was {x} founded?"), numeric=True),
    Rel("headquarters", "org", "city",
        (("{s} has its main offices in {o}.", "main offices"),
         ("{s} is run from a head office in {o}.", "head office"),
         ("{s} operates out of {o}.", "operates out of")),
        ("Where is {x} headquartered?", "In which city is {x} based?", "Where are the headquarters of {x}?"),
        ("the city where {x} is headquartered", "the headquarters city of {x}"),
        "Companies based in {o} include {list}."),
    Rel("employees", "org", None,
        (("{s} employs about {o} people.", "employs people"), ("{s} has a workforce of {o}.", "workforce"),
         ("Some {o} people are on the payroll of {s}.", "payroll")),
        ("How many employees does {x} have?", "How many people work at {x}?"), numeric=True),
    Rel("industry", "org", None,
        (("{s} is active in the {o} sector.", "active sector"), ("{s} belongs to the {o} industry.", "belongs industry")),
        ("What industry is {x} in?", "In which sector does {x} operate?")),
    # ---- work
    Rel("creator", "work", "person",
        (("{s} is the work of {o}.", "work of"), ("{o} is the creative mind behind {s}.", "creative mind behind")),
        ("Who {verb} {x}?", "Who is the {role} of {x}?"),
        ("the {role} of {x}", "the person who {verb} {x}"),
        "The works of {o} include {list}."),
    Rel("work_year", "work", None,
        (("{s} first appeared in {o}.", "first appeared"), ("{s} came out in {o}.", "came out"),
         ("{s} dates from {o}.", "dates from")),
        ("In what year was {x} {released}?", "When was {x} {released}?"), numeric=True),
    Rel("publisher", "work", "org",
        (("{s} was brought out by {o}.", "brought out by"), ("{s} was released through {o}.", "released through"),
         ("{o} handled the release of {s}.", "handled release")),
        ("Which company {pub_verb} {x}?", "Who was the {pub_noun} of {x}?"),
        ("the {pub_noun} of {x}", "the company that {pub_verb} {x}"),
        "The catalogue of {o} includes {list}."),
    Rel("setting", "work", "city",
        (("The story of {s} unfolds in {o}.", "story unfolds"), ("{s} takes place in {o}.", "takes place"),
         ("Much of {s} plays out in the streets of {o}.", "plays out streets")),
        ("In which city is {x} set?", "Where is {x} set?"),
        ("the city where {x} is set", "the setting of {x}"),
        "{o} provides the backdrop for {list}."),
    Rel("genre", "work", None,
        (("{s} is usually filed under {o}.", "filed under"), ("Critics place {s} in the {o} tradition.", "critics tradition")),
        ("What genre is {x}?", "To which genre does {x} belong?")),
    # ---- event
    Rel("venue", "event", "city",
        (("{s} was hosted in {o}.", "hosted in"), ("{s} convened in {o}.", "convened in"),
         ("{o} played host to {s}.", "played host")),
        ("Where was {x} held?", "In which city did {x} take place?"),
        ("the host city of {x}", "the city where {x} was held"),
        "{o} was the site of {list}."),
    Rel("organizer", "event", "org",
        (("{s} was arranged by {o}.", "arranged by"), ("{o} staged {s}.", "staged"),
         ("{s} was put together by {o}.", "put together by")),
        ("Which organization organized {x}?", "Who organized {x}?"),
        ("the organizer of {x}", "the organization that organized {x}"),
        "Events run by {o} include {list}."),
    Rel("event_year", "event", None,
        (("{s} was held in {o}.", "held"), ("{s} ran in {o}.", "ran"), ("{s} dates back to {o}.", "dates back")),
        ("In what year did {x} take place?", "When did {x} take place?"), numeric=True),
    Rel("attendance", "event", None,
        (("{s} drew a crowd of {o}.", "drew crowd"), ("Around {o} visitors came to {s}.", "visitors came"),
         ("{s} attracted {o} attendees.", "attracted attendees")),
        ("How many people attended {x}?", "What was the attendance at {x}?"), numeric=True),
    Rel("winner", "event", "person",
        (("The top honour at {s} went to {o}.", "top honour"), ("{o} carried off the main prize at {s}.", "main prize"),
         ("{o} was named champion of {s}.", "named champion")),
        ("Who won {x}?", "Who took the top prize at {x}?"),
        ("the winner of {x}", "the person who won {x}"),
        "{o} received honours at {list}."),
)
REL = {r.name: r for r in RELATIONS}
RELS_OF = {t: tuple(r for r in RELATIONS if r.subject == t) for t in TYPES}


@dataclass(frozen=True)
class Comparison:
    """A comparison question over one numeric attribute of two same-type entities."""

    etype: str
    attr: str
    pick: str
    """``min`` or ``max``: which value wins."""
    ask: tuple[str, ...]


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("person", "birth_year", "min", ("Who was born first, {a} or {b}?", "Who is older, {a} or {b}?")),
    Comparison("org", "founded_year", "min",
               ("Which was founded earlier, {a} or {b}?", "Which company is older, {a} or {b}?")),
    Comparison("org", "employees", "max",
               ("Which company has more employees, {a} or {b}?", "Which is the larger employer, {a} or {b}?")),
    Comparison("city", "population", "max",
               ("Which city has more inhabitants, {a} or {b}?", "Which is more populous, {a} or {b}?")),
    Comparison("work", "work_year", "min", ("Which came out first, {a} or {b}?", "Which is older, {a} or {b}?")),
    Comparison("event", "attendance", "max",
               ("Which drew more people, {a} or {b}?", "Which had the larger attendance, {a} or {b}?")),
    Comparison("event", "event_year", "min", ("Which took place earlier, {a} or {b}?",)),
)

WORK_KINDS = {
    "novel": {"verb": "wrote", "role": "author", "pub_verb": "published", "pub_noun": "publisher",
              "released": "published", "industry": "publishing", "occupation": "novelist",
              "genres": ("mystery", "historical fiction", "science fiction", "romance", "satire")},
    "play": {"verb": "wrote", "role": "playwright", "pub_verb": "published", "pub_noun": "publisher",
             "released": "first performed", "industry": "publishing", "occupation": "playwright",
             "genres": ("tragedy", "comedy", "farce", "melodrama")},
    "film": {"verb": "directed", "role": "director", "pub_verb": "produced", "pub_noun": "studio",
             "released": "released", "industry": "film", "occupation": "film director",
             "genres": ("drama", "thriller", "documentary", "western", "musical")},
    "album": {"verb": "recorded", "role": "artist", "pub_verb": "released", "pub_noun": "label",
              "released": "released", "industry": "music", "occupation": "composer",
              "genres": ("jazz", "folk", "chamber music", "electronic", "blues")},
}
INDUSTRIES = {
    "publishing": ("Press", "Books", "Publishing"), "film": ("Pictures", "Studios", "Films"),
    "music": ("Records", "Sound", "Music"), "shipping": ("Shipping", "Lines", "Maritime"),
    "engineering": ("Dynamics", "Works", "Engineering"), "banking": ("Holdings", "Trust", "Bank"),
    "textiles": ("Mills", "Textiles", "Weavers"), "mining": ("Mining", "Minerals", "Quarries"),
}
INDUSTRY_WEIGHTS = {"publishing": 3, "film": 2, "music": 2, "shipping": 1, "engineering": 1.5,
                    "banking": 1, "textiles": 1, "mining": 1}
OCCUPATIONS = ("novelist", "playwright", "film director", "composer", "cartographer", "architect",
               "botanist", "engineer", "painter", "banker", "sculptor", "chemist", "shipwright",
               "astronomer", "jurist", "physician", "merchant", "photographer")
EVENT_KINDS = ("festival", "summit", "tournament", "exposition", "congress", "regatta")

# Filler: colour without facts, so each passage reads like ~100 words of prose. No relation keywords.
FILLER = {
    "person": (
        "{Pron} kept detailed notebooks throughout {poss} life, filling them with sketches and lists.",
        "Contemporaries described {obj} as {adj} and {adj2}, though rarely unkind.",
        "Several of {poss} letters survive in private collections and are occasionally exhibited.",
        "{Pron} was fond of long walks and {hobby}, and often combined the two.",
        "Later writers praised {poss} {adj} temperament and {poss} patience with younger colleagues.",
        "A portrait of {s} hangs in a small gallery near the river.",
        "{Pron} rarely spoke about {poss} early years, even to close friends.",
        "Friends remembered {poss} {adj} sense of humour and {poss} habit of humming while working.",
        "In later life {pron} took up {hobby} with surprising enthusiasm.",
        "Accounts of {poss} habits mention a love of {hobby} and strong tea.",
        "Neighbours recalled {obj} as {adj} but {adj2}, and always punctual.",
        "{Pron} disliked formal dinners and preferred quiet evenings with a few guests.",
        "Biographers disagree about how much of {poss} reputation rests on anecdote.",
        "Much of {poss} correspondence deals with money, weather and family matters.",
    ),
    "city": (
        "The old quarter is known for its {adj} {feature} and narrow lanes.",
        "Travellers often remark on the {adj} {feature} of the city and its slow pace of life.",
        "Markets are busiest in {season}, when farmers arrive from the surrounding valleys.",
        "The climate is {adj}, with {weather} in {season}.",
        "Local legends speak of a {adj} {creature} that guards the hills above the town.",
        "Its streets are lined with {adj} {feature} and small workshops.",
        "Visitors to {s} are drawn by its {adj} {feature}.",
        "Fishermen and traders fill the squares every {season}.",
        "A tram line connects the harbour district with the upper town.",
        "The municipal library holds maps that are centuries old.",
        "Residents take pride in their {adj} gardens and {color} doorways.",
        "Several bridges cross the river, the oldest built of {color} stone.",
    ),
    "org": (
        "The firm is known among rivals for its {adj} approach to contracts.",
        "Its annual reports emphasise {value} above rapid expansion.",
        "The emblem of {s} shows a {color} {symbol} on a plain field.",
        "Observers regard the firm as a {adj} presence in its field.",
        "Management places great weight on {value} and long-term planning.",
        "Its offices are decorated with {color} banners and old photographs.",
        "Suppliers describe the firm as {adj} and {adj2} in negotiations.",
        "The firm survived several downturns by keeping its costs low.",
        "Internal newsletters celebrate {value} and the loyalty of long-serving clerks.",
        "Rivals have occasionally accused it of being {adj} in its pricing.",
        "It sponsors a small choir and an annual rowing race.",
    ),
    "work": (
        "Reviewers praised its {adj} {element} and its unusual structure.",
        "The {element} of {s} has been widely discussed by critics and fans alike.",
        "It was revisited by later audiences, who found new meaning in its {element}.",
        "Many admirers single out its {adj} {element}.",
        "Scholars have compared its {element} to {adj} traditions of earlier centuries.",
        "It is remembered for its {adj2} {element}.",
        "Some found the {element} {adj}, others thought it {adj2}.",
        "Early copies are now rare and sought after by collectors.",
        "The opening section is often quoted in anthologies and lectures.",
        "Its reception was mixed at first but grew warmer over the years.",
        "A {color} cover design became closely associated with it.",
    ),
    "event": (
        "Visitors remember its {adj} {feature} and crowded squares.",
        "Local newspapers covered {s} at length, printing daily reports.",
        "Tickets were in high demand, and many people watched from rooftops.",
        "The programme mixed {adj} and {adj2} moments over several days.",
        "Photographs show {adj} crowds in {color} clothing.",
        "It is remembered for its {adj} atmosphere and late-night music.",
        "Street vendors sold {color} ribbons and roasted chestnuts to the crowds.",
        "Organisers struggled with the weather, which brought {weather}.",
        "Some participants later wrote memoirs describing the {adj} mood of those days.",
        "A commemorative medal was struck, showing a {color} {symbol}.",
    ),
}
MENTIONS = {
    "person": "{s} once corresponded with {m}.",
    "city": "{s} is twinned with {m}.",
    "org": "{s} has long competed with {m}.",
    "work": "{s} is often compared with {m}.",
    "event": "{s} is sometimes confused with {m}.",
}
"""Never-asked links to another entity of the same type (the twin when there is one): BM25 distractors."""

FILLER_WORDS = {
    "adj": ("quiet", "generous", "restless", "meticulous", "cheerful", "stern", "curious", "patient",
            "elegant", "modest", "bold", "gentle", "sharp", "lively", "austere", "colourful", "stately"),
    "hobby": ("chess", "gardening", "sailing", "bird watching", "card games", "fishing", "poetry readings"),
    "feature": ("bridges", "fountains", "bell towers", "arcades", "canals", "courtyards", "tiled roofs",
                "lanterns", "stone stairways", "gardens"),
    "season": ("spring", "summer", "autumn", "winter"),
    "weather": ("fog", "steady rain", "warm winds", "sharp frosts", "long dry spells"),
    "creature": ("silver fox", "river spirit", "white stag", "giant heron", "sleeping dragon"),
    "value": ("careful bookkeeping", "craftsmanship", "loyalty", "steady growth", "innovation", "thrift"),
    "color": ("blue", "green", "gold", "crimson", "black", "white", "violet"),
    "symbol": ("lion", "ship", "tree", "tower", "key", "star", "wheel"),
    "element": ("dialogue", "pacing", "structure", "imagery", "ending", "melodies", "characters", "tone"),
}


def template_words() -> set[str]:
    """Every word our templates and word lists use (no generated name may equal one of them)."""
    texts: list[str] = []
    for r in RELATIONS:
        texts += [f for f, _ in r.facts] + [q for _, q in r.facts] + list(r.ask) + list(r.np) + [r.inverse or ""]
    for c in COMPARISONS:
        texts += list(c.ask)
    for kind, info in WORK_KINDS.items():
        texts += [kind] + [v if isinstance(v, str) else " ".join(v) for v in info.values()]
    for ind, sufs in INDUSTRIES.items():
        texts += [ind, *sufs]
    texts += list(OCCUPATIONS) + list(EVENT_KINDS)
    for fs in FILLER.values():
        texts += list(fs)
    texts += list(MENTIONS.values())
    for ws in FILLER_WORDS.values():
        texts += list(ws)
    words = set()
    for t in texts:
        for w in t.replace("{", " ").replace("}", " ").split():
            w = w.strip(".,?!'\"").lower()
            if w.isalpha():
                words.add(w)
    return words
