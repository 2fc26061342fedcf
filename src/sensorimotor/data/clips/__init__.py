"""Motion clips: HDF5 format, rodent generator, intention VAE, datasets."""
