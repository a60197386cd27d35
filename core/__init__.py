"""The bottom of the house: errors, the registry class and typed-config helpers.

``models``, ``metrics`` and ``benchmark`` all import from here, and this package imports none of
them, so the package graph has no loop (``tests/test_layers.py`` checks it).
"""
