"""Point-in-time customer features: everything at snapshot c is computed from events strictly before c."""
