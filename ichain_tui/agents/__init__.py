"""Provides the market's agents: requester, provider (which is also the validator), and what they
share (events, journal, hosting, envelopes, selection). No Textual here: the TUI and the headless
provider drive the same agents through callbacks."""
