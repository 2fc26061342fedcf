"""LeRobot v3.0 datasets: read them (``LeRobotReader``), write them (``LeRobotWriter``), and convert
them to and from sensorimotor sessions (``convert``). pyarrow + PyAV only; no PyTorch."""
