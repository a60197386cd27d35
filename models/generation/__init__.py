"""The GWAE paper's generation baselines as the official code's library (vaetc) trains them.

One module per family; each model has a ``mode``: ``paper`` reproduces vaetc's code, quirks included (the
default, so the suite compares what the paper ran), ``fixed`` follows the published method.
"""
