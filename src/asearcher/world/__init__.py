"""The procedurally generated knowledge world: the embedded default corpus, pages and questions.

Public API: ``generate_world``, ``ensure_world``, ``load_questions``, ``check_world``.
"""

from __future__ import annotations

from asearcher.world.check import CheckReport, check_world
from asearcher.world.generate import ensure_world, generate_world, is_world, load_questions

__all__ = ["CheckReport", "check_world", "ensure_world", "generate_world", "is_world", "load_questions"]
