"""IMAP: connecting and logging in, the IDLE watcher, the watcher process, the command pool and its operations.

The only package that imports aioimaplib; library errors become ``MailboxError``s here.
``responses`` parses server responses (pure); ``handshake`` opens a session step by step so every
way a server refuses fails fast; ``watcher`` is the per-account engine; ``runner`` the service
that shares accounts between watcher processes.
May import: mail.ids, senderauth (the resolver, DMARC's public suffixes), inbound.pipeline and
inbound.pool (the watcher process runs the pipeline), mailbox.server, oauth, storage,
webhooks.dispatcher, crypto, tls.
Purity: responses, fetched
"""
