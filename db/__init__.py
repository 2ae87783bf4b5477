"""Database layer: models, engine and sessions, migrations, reference data."""
