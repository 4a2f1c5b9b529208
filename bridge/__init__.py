"""Mailbridge: an existing IMAP/SMTP mailbox as an authenticated API."""

__version__ = "0.1.0"
