"""QA synthesis agent (ASearcher §4): turns pages with links into hard, grounded QA with unique answers.

``SynthAgent`` runs one attempt (root page → base QA → inject / fuzz / exit, each change verified);
``run_synthesis`` runs many (concurrency-limited, resumable) and writes the JSONL, summary and report.
Talks to models only through ``asearcher.inference.chat.ChatModel``.
"""

from asearcher.synth.agent import SynthAgent, pick_root
from asearcher.synth.llm import Role, StepSkipped
from asearcher.synth.pages import PageGraph, load_pages
from asearcher.synth.runner import output_paths, run_synthesis

__all__ = ["PageGraph", "Role", "StepSkipped", "SynthAgent", "load_pages", "output_paths", "pick_root",
           "run_synthesis"]
