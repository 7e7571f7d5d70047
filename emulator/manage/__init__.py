"""Management: the admin operations (``actions``), the CLI (``cli``) and the admin pages
(``admin``), which both call the same actions."""
