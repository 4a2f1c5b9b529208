"""Sending: from a validated submit request to a queued send, and the SMTP client.

- ``submit``  the submit path: policy gate, outbox entry, RQ job (orchestration over storage, compose, jobs).
- ``smtp``    the only module that imports aiosmtplib; library errors become SubmissionError.

May import: compose, review (the gate), storage, jobs, models, imap.actions (a referenced message), inbound.records.
Purity: none
"""
