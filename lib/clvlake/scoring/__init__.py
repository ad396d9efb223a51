"""Scores for every customer: predicted CLV and value tier, stamped with the model that made them."""
