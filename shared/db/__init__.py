"""The database side of the platform: engines, column types, statements, platform tables, migrations."""
