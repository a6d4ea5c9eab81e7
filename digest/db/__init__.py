"""The database: schema, engine, migrations. Only `digest.store` runs queries."""
