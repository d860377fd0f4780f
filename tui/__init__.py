"""The console: the Textual app, its screens and key bindings, and the ``pfterm`` command line."""
