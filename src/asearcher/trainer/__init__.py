"""Trainer: advantages, decoupled PPO loss, train engines, weight sync, the RL/SFT loops and checkpoints."""
