"""Answer metrics and their aggregations against hand-computed values."""

from __future__ import annotations

import pytest

from asearcher.evaluation.metrics import (
    aggregate,
    asearcher_train_f1,
    avg_at_k,
    best_of_k,
    breakdown,
    canonical,
    cover_em,
    exact_match,
    f1,
    majority_vote,
    normalize_answer,
    pass_at_k,
    score_answer,
    sub_em,
)


@pytest.mark.parametrize("raw, norm", [
    ("The Eiffel Tower!", "eiffel tower"),
    ("  a  cat,   an apple ", "cat apple"),
    ("Theater", "theater"),            # "the" only as a whole word
    ("U.S.A.", "usa"),
    ("rock-and-roll", "rockandroll"),  # SQuAD drops punctuation without a space
    ("", ""),
    ("¿Qué?", "¿qué"),                 # only ASCII punctuation is removed
])
def test_normalize_answer(raw, norm):
    assert normalize_answer(raw) == norm


def test_true_false_read_as_yes_no():
    assert canonical("True.") == "yes" and canonical("FALSE") == "no" and canonical("true story") == "true story"
    assert exact_match("True", ["yes"]) == 1.0 and exact_match("no", ["False"]) == 1.0
    assert f1("True", ["yes"]) == 1.0


def test_exact_match_max_over_aliases():
    assert exact_match("the  Eiffel tower", ["Paris", "Eiffel Tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel Tower"]) == 0.0
    assert exact_match(None, ["x"]) == 0.0 and exact_match("x", []) == 0.0


def test_f1_multiset_hand_computed():
    # pred tokens [eiffel, tower, paris] (article dropped), gold [eiffel, tower]: P=2/3, R=1 → 0.8
    assert f1("The Eiffel Tower, Paris", ["Eiffel Tower"]) == pytest.approx(0.8)
    # multiset: pred [new, new, york] vs gold [new, york]: common 2 → P=2/3, R=1 → 0.8
    assert f1("new new york", ["New York"]) == pytest.approx(0.8)
    # gold [new, york, city], pred [york]: P=1, R=1/3 → 0.5; max over aliases picks "York" → 1.0
    assert f1("york", ["New York City"]) == pytest.approx(0.5)
    assert f1("york", ["New York City", "York"]) == 1.0
    assert f1("Paris", ["London"]) == 0.0


def test_f1_yes_no_gets_no_partial_credit():
    assert f1("yes it is", ["yes"]) == 0.0    # gold yes, pred not exactly yes
    assert f1("no", ["no way"]) == 0.0
    assert f1("the", ["a"]) == 1.0            # both normalise to empty: SQuAD scores equality


def test_cover_em_and_sub_em_differ():
    assert cover_em("It is the Eiffel Tower in Paris", ["Eiffel Tower"]) == 1.0
    assert cover_em("Tower Eiffel", ["Eiffel Tower"]) == 1.0       # every gold token present, any order
    assert sub_em("Tower Eiffel", ["Eiffel Tower"]) == 0.0         # not a substring
    assert sub_em("concatenate", ["cat"]) == 1.0                    # character substring
    assert cover_em("concatenate", ["cat"]) == 0.0                  # not a token
    assert cover_em("x", [""]) == 0.0 and sub_em("x", ["the"]) == 0.0  # empty gold never matches


def test_asearcher_training_f1_is_set_based_and_keeps_articles():
    assert asearcher_train_f1("The Eiffel Tower, Paris", ["Eiffel Tower"]) == pytest.approx(2 / 3)
    assert asearcher_train_f1("new new york", ["New York"]) == 1.0  # sets: {new, york}
    assert asearcher_train_f1(None, ["x"]) == 0.0


def test_score_answer_and_unknown_metric():
    s = score_answer("Eiffel Tower", ["eiffel tower"])
    assert s == {"em": 1.0, "f1": 1.0, "cem": 1.0, "sub_em": 1.0}
    with pytest.raises(ValueError, match="unknown metric"):
        score_answer("a", ["b"], ["bleu"])


# ---- k samples ------------------------------------------------------------------------------------------------

# k = 4 samples of three questions (EM scores):
#   q1: 1 0 0 1 → mean 0.5,  best 1
#   q2: 0 0 0 0 → mean 0,    best 0
#   q3: 1 1 1 0 → mean 0.75, best 1
# Avg@4 = (0.5 + 0 + 0.75) / 3 = 0.416667;  Pass@4 = 2/3
K4 = [[1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 0]]


def test_avg_and_pass_at_4():
    assert avg_at_k(K4) == pytest.approx(1.25 / 3)
    assert pass_at_k(K4) == pytest.approx(2 / 3)
    assert avg_at_k([]) == 0.0 and pass_at_k([]) == 0.0


def test_majority_vote_and_best_of_k():
    assert majority_vote(["Paris", "paris.", "London", None]) == "Paris"
    assert majority_vote(["a", "b", "b", "a"]) == "a"            # tie → earliest
    assert majority_vote([None, None]) is None
    assert best_of_k(["a", "b", None], [-1.0, -0.2, 0.0]) == "b"  # None prediction never chosen
    assert best_of_k(["a", "b"], [None, None]) is None


def test_aggregate_k4_end_to_end():
    gold = [["Paris"], ["Rome"], ["Oslo"]]
    preds = [["Paris", "Lyon", "Nice", "paris"],
             ["Milan", None, "Turin", "Milan"],
             ["Oslo", "oslo", "the Oslo", "Bergen"]]
    rows = [{"answers": g, "predictions": p, "confidences": [None] * 4,
             "scores": {"em": [exact_match(x, g) for x in p]}} for g, p in zip(gold, preds, strict=True)]
    agg = aggregate(rows, ["em"])
    assert agg["n"] == 3 and agg["k"] == 4 and agg["answered"] == pytest.approx(11 / 12)
    assert [r["scores"]["em"] for r in rows] == K4
    assert agg["em"]["avg@k"] == pytest.approx(1.25 / 3) and agg["em"]["pass@k"] == pytest.approx(2 / 3)
    # majority: q1 "Paris" (2 votes), q2 "Milan", q3 "Oslo" → 2/3
    assert agg["em"]["maj@k"] == pytest.approx(2 / 3)
    assert "best@k" not in agg["em"]  # no confidences


def test_breakdown_groups_sorted_numerically():
    rows = [{"answers": ["a"], "predictions": ["a"], "scores": {"em": [1.0]}, "meta": {"hops": h}}
            for h in (10, 2, 2, None)]
    out = breakdown(rows, lambda r: r["meta"]["hops"], ["em"])
    assert list(out) == ["2", "10"] and out["2"]["n"] == 2


def test_summary_tool_calls_per_group():
    from asearcher.evaluation.report import markdown, summarize
    from asearcher.types import Example

    exs = [Example(id=f"q{i}", question="?", answers=["a"], meta={"hops": h}) for i, h in enumerate((1, 1, 3, 3))]

    def sample(searches: int, accesses: int = 0) -> dict:
        return {"prediction": "a", "scores": {}, "stats": {"searches": searches, "accesses": accesses}}

    # q3 has no sample (unanswered, no stats): it counts for accuracy, not for the calls
    samples = {"q0": [sample(1)], "q1": [sample(2)], "q2": [sample(3, 1)]}
    s = summarize("toy", exs, samples, metrics=["em"], k=1, breakdowns=["hops"])
    assert s["overall"]["tool_calls"] == pytest.approx(7 / 3)
    assert s["breakdowns"]["hops"]["1"]["tool_calls"] == pytest.approx(1.5)
    assert s["breakdowns"]["hops"]["3"]["tool_calls"] == pytest.approx(4.0)
    md = markdown([s])
    assert "| dataset | n | answered | tool calls | em |" in md
    assert "|   toy · hops=3 | 2 | 50.0 | 4.00 | 50.0 |" in md
    # scored from a predictions file (no episode stats): no calls column
    bare = summarize("toy", exs, {"q0": [{"prediction": "a", "scores": {}}]}, metrics=["em"], k=1)
    assert "tool_calls" not in bare["overall"] and "tool calls" not in markdown([bare])
