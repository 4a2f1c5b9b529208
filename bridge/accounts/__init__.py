"""Accounts as a whole: checking that their servers accept the credentials, and deleting one.

- ``connectivity``  log in to IMAP and SMTP concurrently (through ``bridge.imap`` and ``bridge.outbound.smtp``).
- ``removal``       stop what an account has in flight (sends, holds), then purge its data.

May import: storage, jobs, imap, outbound, review. Called by the API and the CLI.
Purity: none
"""
