"""Linked ipywidgets views over a cohort (wired to stats, plotting and imaging; no file I/O)."""
