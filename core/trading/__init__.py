"""Trading: one order path for every venue.

* :mod:`pfterm.core.trading.venue` — the exchange-client protocol every trading venue implements;
* :mod:`pfterm.core.trading.hyperliquid`, :mod:`pfterm.core.trading.binance` — the two clients;
* :mod:`pfterm.core.trading.orders` — the order manager, one per venue: journal before send, answers,
  lost answers, reconcile on start, cancels, fills/funding sync, dead man's switch;
* :mod:`pfterm.core.trading.retrying` — reads retried until a deadline, batches the venue turned
  away for the request rate sent again after ``Retry-After``;
* :mod:`pfterm.core.trading.kill` — the kill switch on one venue, under a hard deadline;
* :mod:`pfterm.core.trading.state` — the trading state shared by every process on an account;
* :mod:`pfterm.core.trading.desk` — the desk above them: state, risk gate, kill-all, delta, views;
* :mod:`pfterm.core.trading.ticket` — the order ticket's pricing (what a ticket becomes, or why not).

Also here: :mod:`.risk` (pre-trade checks, margin arithmetic), :mod:`.hedging` (delta, hedge and
rebalance plans), :mod:`.portfolio` (account snapshots for display), :mod:`.journal` (the durable
record of every order, fill and funding payment), :mod:`.credentials` (the trading key and
who may trade).

May import market and venues; never harvesting, runtime or the simulator.

A desk for a live session is built by :func:`pfterm.core.runtime.session.open_desk`.
"""
