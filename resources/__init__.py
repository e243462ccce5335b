"""Data files owlx ships: scattering-factor tables, material presets, colormaps."""
