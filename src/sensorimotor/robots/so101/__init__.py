"""The SO-101 arm: a simulated arm (``robot=so101_sim``), its constants, and servo calibration."""
