"""Privacy: erasure of a data subject (right to be forgotten) with an audit trail."""
