"""MuJoCo simulation tooling: scenes, linting, headless rendering, checks, robots."""
