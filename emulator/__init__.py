"""The host the plugins stand on: database, plugin registry, dispatcher, CLI, OAuth2 engine."""
