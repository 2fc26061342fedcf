"""World-layer data: HDF5 pytrees and motion clips (format, generator, datasets)."""
