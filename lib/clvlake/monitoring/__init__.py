"""Watching the daily run: data-quality checks, feature and prediction drift, realised vs predicted value."""
