"""The live mailbox API's transport: web processes ask, the watcher holding the account's lease acts.

- ``protocol``   request and reply framing (JSON head + optional raw bytes), errors that cross it.
- ``search``     the API's search criteria as IMAP SEARCH atoms.
- ``operations`` what each command does, over one pooled IMAP connection (``bridge.imap.live``).
- ``server``     runs in the watcher process: takes its commands from Redis, one pool per held account.
- ``client``     runs in web processes: sends a command to the lease holder, waits for the answer, or
  answers ``503 accountUnavailable`` when no one holds the account or it does not answer in time.

So an account has at most its IDLE connection plus ``BRIDGE_IMAP_COMMAND_CONNECTIONS`` command
connections, however many web processes there are; no web process logs in to IMAP, nor does a send
worker (it files the Sent copy and flags a reply's original with the ``fileSent`` command).
May import: imap, mail, storage.
Purity: protocol, search
"""
