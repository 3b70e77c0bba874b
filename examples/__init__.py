"""Worked examples of measuring your own training (README: "Measure your own training")."""
