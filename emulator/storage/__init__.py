"""The database: schema and models, SQLite's writer, compiled statements, purges, caches.

Everything here but ``database`` (the Flask binding) is framework-free, so the engine
(``emulator.oauth``) stands on it without Flask.
"""
