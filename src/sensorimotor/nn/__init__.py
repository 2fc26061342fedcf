"""Neural-network building blocks (Flax NNX). Knows nothing of robots or data."""
