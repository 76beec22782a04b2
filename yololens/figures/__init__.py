"""Figures: matplotlib (PNG/SVG) and bokeh (self-contained HTML)."""
