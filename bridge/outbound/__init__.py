"""Sending: from a validated submit request to a queued send, and the SMTP client.

- ``submit``  the submit path: policy gate, outbox entry, RQ job (orchestration over storage, compose, jobs).
- ``smtp``    the only module that imports aiosmtplib; library errors become SubmissionError.

May import: compose, mail, review (the gate), storage, jobs, models, inbound.records, schemas.submit,
oauth.sasl and tls (the SMTP login). A referenced message or a stored draft arrives as bytes,
fetched by the API through the account's command connection.
Purity: none
"""
