"""IMAP: connecting and logging in, the IDLE watcher, the watcher process, one-off actions.

The only package that imports aioimaplib; library errors become ``MailboxError``s here.
``responses`` parses server responses (pure); ``handshake`` opens a session step by step so every
way a server refuses fails fast; ``watcher`` is the per-account engine; ``runner`` the service
that shares accounts between watcher processes.
Purity: responses, fetched
"""
