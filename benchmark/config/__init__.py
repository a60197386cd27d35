"""Typed configuration of a run: what determines its numbers (``RunConfig``) and what is asked of it besides."""
