"""Behaviour sequence models: S5/Mamba/GRU/MLP models, predictor, rollout, AR-HMM."""
