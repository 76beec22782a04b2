"""Figures: matplotlib (PNG/SVG) and bokeh (HTML)."""
