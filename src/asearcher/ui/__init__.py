"""The web UI: watch an agent search live, inspect training/evaluation trajectories token by token, and
follow a run's curves. A thin shell over the library (``agent``, ``rollout.to_samples``, run files).

``create_app(config, engine_factory=..., tools_factory=..., run_dirs=[...])`` in ``asearcher.ui.app`` builds
the FastAPI application; ``asearcher ui`` serves it.
"""
