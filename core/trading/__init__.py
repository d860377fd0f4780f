"""Trading: one order path for every venue.

* :mod:`core.trading.venue` — the exchange-client protocol every trading venue implements;
* :mod:`core.trading.hyperliquid`, :mod:`core.trading.binance` — the two clients;
* :mod:`core.trading.orders` — the order manager, one per venue: journal before send, answers,
  lost answers, reconcile on start, cancels, fills/funding sync, dead man's switch;
* :mod:`core.trading.retrying` — reads retried until a deadline, batches the venue turned
  away for the request rate sent again after ``Retry-After``;
* :mod:`core.trading.kill` — the kill switch on one venue, under a hard deadline;
* :mod:`core.trading.state` — the trading state shared by every process on an account;
* :mod:`core.trading.desk` — the desk above them: state, risk gate, kill-all, delta, views;
* :mod:`core.trading.ticket` — the order ticket's pricing (what a ticket becomes, or why not).

A desk for a live session is built by :func:`core.session.open_desk`.
"""
