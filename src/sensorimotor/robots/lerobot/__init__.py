"""LeRobot v3.0 datasets <-> recorded sessions (the file format itself is ``data.lerobot``)."""
