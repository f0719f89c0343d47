"""asearcher: train and evaluate LLM search agents with fully asynchronous RL."""

__version__ = "0.1.0"
