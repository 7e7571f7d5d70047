"""The legacy importer: ``flask --app app legacy import`` carries a redCORE site's OAuth2
server over (clients, scopes, options and live tokens).

``source`` reads the redCORE database and maps its rows onto the engine's values; ``run``
is one import run in one transaction; ``cli`` is the command.
"""
