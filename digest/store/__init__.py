"""Everything that runs SQL. Functions take a SQLAlchemy `Connection` (the caller
owns the transaction) and return plain data from `digest.papers`,
`digest.preferences` and friends."""
