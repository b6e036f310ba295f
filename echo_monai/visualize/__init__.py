"""Figures for people: gating, confusion matrices, overlays (matplotlib, Agg backend)."""
