"""Inference backends with one life cycle (activate / infer / deactivate), Polygraphy-style."""
