"""Training drivers (loops, sweeps, staged training) and reports."""
