"""Runtime wiring: configuration and the sessions the console and the headless commands run.

* :mod:`.config` — the TOML configuration, validated, overridden by command-line flags;
* :mod:`.heap` — the garbage collector of a long-running process (start-up's heap frozen);
* :mod:`.session` — venue choice, embedded simulator, feed, engine, desk and harvester of one
  session; the headless ``kill``, ``resume`` and ``harvest`` commands.

May import every other core package; nothing in core imports it except :mod:`pfterm.core.harvest.lockstep`.
"""
