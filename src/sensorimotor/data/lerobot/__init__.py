"""LeRobot v3.0 datasets: read them (``LeRobotReader``) and write them (``LeRobotWriter``).
pyarrow + PyAV only; no PyTorch. Conversion to and from sessions is ``robots.lerobot``."""
