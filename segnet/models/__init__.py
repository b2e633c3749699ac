"""Model family: a registry of SegNet presets (see registry.py)."""
