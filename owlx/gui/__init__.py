"""Qt widgets only: windows, views, panels, the console dock."""
