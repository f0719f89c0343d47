"""Evaluation: dataset loaders, answer metrics, the LLM judge, the resumable runner and its reports.

``datasets.load_dataset`` → ``runner.evaluate`` (agent episodes → ``trajectories.jsonl``) → ``report.summarize``
(``summary.json`` / ``summary.md``); ``scoring.score_predictions`` scores existing predictions without a model.
"""

from asearcher.evaluation.datasets import Dataset, load_dataset
from asearcher.evaluation.metrics import aggregate, score_answer
from asearcher.evaluation.runner import evaluate

__all__ = ["Dataset", "aggregate", "evaluate", "load_dataset", "score_answer"]
