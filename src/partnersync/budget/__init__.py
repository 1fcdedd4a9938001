"""One request budget per API key, shared by every partnersync process using the key.

The vendors limit requests per key, not per process. Each process about to call a vendor
registers as a consumer of the key in the database (`ledger`), heartbeats while it uses it
(`coordinator`), and sends at the share of the key's budget that the rules give it (`rule`):
the budget rises toward the vendor's limit while nothing is refused and backs off on 429, and
is divided among the consumers active now. See docs/design.md, "Shared request budget".
"""
