"""Segments, cohorts, what-if, budget, the campaign export and the HTML report of a score date."""
