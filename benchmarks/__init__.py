"""The bench harness behind `segnet bench` and the scripts behind the README tables."""
