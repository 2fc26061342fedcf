"""Motion clips: HDF5 format, modelling modes (what is input, what is target) and datasets."""
