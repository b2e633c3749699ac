"""SegNet edge toolkit: train, export, build and run SegNet-style networks on Jetson-class devices.

This package must stay importable without torch: `segnet.runtime` lives under it.
"""

__version__ = "0.1.0"
