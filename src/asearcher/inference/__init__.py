"""Inference engines behind one protocol (``base.InferenceEngine``): in-process HF, vLLM, SGLang, OpenAI-compatible, fakes."""
