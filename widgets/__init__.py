"""Textual widgets: each renders an immutable snapshot of engine state and never talks to a
venue or the simulator (checked by ``lint-imports``)."""
