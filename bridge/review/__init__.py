"""Holding mail for a person: the policy gates, review holds, magic links, reviewer mail, the audit log.

- ``links``  pure: the hold state machine, itsdangerous magic-link tokens, what a link page shows.
- ``gate``   asked by the inbound pipeline before it emits and by submit before it queues.
- ``holds``  open a hold, decide or expire it, carry out the outcome.
- ``mail``   the email each reviewer gets (Jinja templates).
- ``audit``  one audit-log record per decision.

May import: policy (pure evaluation), storage, jobs, events, compose, schemas, inbound.records and
inbound.publish (an approved inbound hold is published as it would have been on arrival).
Purity: links
"""
