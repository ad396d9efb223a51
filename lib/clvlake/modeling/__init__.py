"""Labels, training sets, the regressor pipeline, evaluation metrics and the MLflow registry."""
