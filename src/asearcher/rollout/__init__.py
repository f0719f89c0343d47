"""Rollout: staleness-controlled asynchronous episode generation and trajectory → sample conversion."""
