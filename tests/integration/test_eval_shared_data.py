"""Every question file of ``shared/data`` (README sections "benchmarks" and "multi-hop QA", plus the training
question files) loads with the README's record counts; corpora are refused with a pointer to ``kb build``.
Skips when the shared data folder is absent. Never prints question text (GAIA and xbench are protected)."""

from __future__ import annotations

from collections import Counter

import pytest

from asearcher.errors import DataError
from asearcher.evaluation.datasets import KNOWN, load_dataset

COUNTS = {
    # section 2: benchmarks
    "deepresearcher_eval/test.parquet": ("deepresearcher", 3197),
    "deepresearcher_eval/dev.parquet": ("deepresearcher", 875),
    "r1searcher_eval/hotpotqa_500.jsonl": ("r1searcher", 500),
    "r1searcher_eval/2wiki_500.jsonl": ("r1searcher", 500),
    "r1searcher_eval/musique_500.jsonl": ("r1searcher", 500),
    "r1searcher_eval/bamboogle.jsonl": ("r1searcher", 125),
    "flashrag_format_subsamples/nq/test.jsonl": ("flashrag", 1000),
    "flashrag_format_subsamples/triviaqa/test.jsonl": ("flashrag", 1000),
    "flashrag_format_subsamples/popqa/test.jsonl": ("flashrag", 1000),
    "flashrag_format_subsamples/bamboogle/test.jsonl": ("flashrag", 125),
    "simpledeepsearcher_eval/frames.json": ("frames", 824),
    "simpledeepsearcher_eval/gaia.json": ("gaia", 103),
    "xbench_deepsearch/DeepSearch-2505.csv": ("xbench", 100),
    "xbench_deepsearch/DeepSearch-2510.csv": ("xbench", 100),
    # section 1: multi-hop QA with passages (question files)
    "hotpotqa_ircot_dev500/dev_subsampled.jsonl": ("ircot", 500),
    "migres_multihop/hotpot.json": ("hotpotqa", 133),
    "migres_multihop/wikihop.json": ("2wiki", 133),
    "migres_multihop/musique.json": ("musique", 134),
    "hipporag_subsets/hotpotqa_train.json": ("hotpotqa", 100),
    "hipporag_subsets/musique_train.json": ("musique", 100),
    # section 3: training questions (same loaders)
    "asearcher_train_sample/ASearcher-LRM-35k.excerpt_ids_1-34.jsonl": ("generic", 34),
    "asearcher_train_sample/ASearcher-LRM-35k.excerpt_ids_22544-22584.jsonl": ("generic", 41),
    "r1searcher_train/stage_1.jsonl": ("r1searcher", 350),
    "r1searcher_train/stage_2.jsonl": ("r1searcher", 8148),
    "webdancer_synth_qa_sample/sample_qa.jsonl": ("generic", 200),
}
CORPORA = ["flashrag_wiki18_sample/sample_data.jsonl", "hipporag_subsets/hotpotqa_train_corpus.json",
           "hipporag_subsets/musique_train_corpus.json", "hipporag_subsets/2wikimultihopqa_corpus.json"]


@pytest.mark.parametrize("rel", list(COUNTS))
def test_file_loads_with_readme_count(shared_data, rel):
    fmt, n = COUNTS[rel]
    ds = load_dataset(str(shared_data / rel))
    assert (ds.format, len(ds.examples)) == (fmt, n)
    assert len({e.id for e in ds.examples}) == n
    assert all(e.question.strip() and e.answers for e in ds.examples)
    assert ds.protected == (fmt in ("gaia", "xbench"))


def test_multi_source_and_hop_metadata(shared_data):
    dr = load_dataset(str(shared_data / "deepresearcher_eval/test.parquet"))
    assert Counter(e.meta["source"] for e in dr.examples) == {
        "nq": 512, "tq": 512, "popqa": 512, "hotpotqa": 512, "2wiki": 512, "musique": 512, "Bamboogle": 125}
    assert sum(len(e.answers) > 1 for e in dr.examples) > 0  # <|answer_split|> aliases were split
    dev = load_dataset(str(shared_data / "deepresearcher_eval/dev.parquet"))
    assert set(Counter(e.meta["source"] for e in dev.examples).values()) == {125}
    assert len({e.question for e in dev.examples} & {e.question for e in dr.examples}) == 190
    gaia = load_dataset(str(shared_data / "simpledeepsearcher_eval/gaia.json"))
    assert Counter(e.meta["level"] for e in gaia.examples) == {1: 39, 2: 52, 3: 12}
    mus = load_dataset(str(shared_data / "migres_multihop/musique.json"))
    assert Counter(e.meta["hops"] for e in mus.examples) == {2: 98, 3: 22, 4: 14}
    wiki = load_dataset(str(shared_data / "migres_multihop/wikihop.json"))
    assert Counter(e.meta["hops"] for e in wiki.examples) == {2: 101, 4: 32}


def test_xbench_decrypts_to_text(shared_data):
    for name in ("DeepSearch-2505.csv", "DeepSearch-2510.csv"):
        ds = load_dataset(str(shared_data / "xbench_deepsearch" / name))
        # decrypted (Chinese) text, not base64: most questions contain CJK characters
        cjk = sum(any("\u4e00" <= ch <= "\u9fff" for ch in e.question) for e in ds.examples)
        assert cjk >= 90 and all(e.meta["protected"] == "xbench" for e in ds.examples)


def test_known_names_resolve(shared_data):
    for name, rel in KNOWN.items():
        ds = load_dataset(name, data_root=shared_data, limit=3)
        assert ds.name == name and len(ds.examples) == 3 and ds.path.endswith(rel)


@pytest.mark.parametrize("rel", CORPORA)
def test_corpora_are_not_question_sets(shared_data, rel):
    with pytest.raises(DataError, match="passage corpus"):
        load_dataset(str(shared_data / rel))
