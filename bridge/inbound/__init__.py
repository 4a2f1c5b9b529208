"""The inbound pipeline: fetched bytes become parsed, verified, classified, stored and emitted messages.

- ``analysis``  pure: parse once, verify the sender, classify (bounce, complaint, auto-reply).
- ``records``   pure: the stored message record, its JSON projections and the events delivering it makes.
- ``publish``   carries those events out: suppressions, then publications (pipeline and approved holds).
- ``pool``      worker processes for big batches (spawned; they die with their watcher).
- ``commits``   the commit lanes: serial per account, in parallel across accounts.
- ``pipeline``  the watcher's MessageHandler: analyse in parallel, commit in UID order.

May import: mail, senderauth, bounces, review (the gate), events, storage, webhooks.lanes (a fair pool),
runtime.lifetime (the worker processes die with their watcher).
Purity: analysis, records
"""
