"""The request path: the dispatcher, the plugin registry and declaration API, and what
reading a request and writing an answer need (PHP's rules, bodies, outbound calls)."""
