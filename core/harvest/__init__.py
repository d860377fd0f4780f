"""The funding harvester: the automated face of pfterm, on the console's own trading desk.

* :mod:`.strategy` — decision math: score, size, time, allocate and exit (pure);
* :mod:`.harvester` — the harvester loop, every order through the desk;
* :mod:`.report` — the P&L attribution report read from the trading journal;
* :mod:`.lockstep` — deterministic accelerated sessions on the embedded simulator.

May import market, venues, trading, crossvenue and the simulator (for lockstep sessions);
:mod:`pfterm.core.runtime` only in :mod:`.lockstep`, which is a session itself.
"""
