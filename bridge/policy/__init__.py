"""Protection policy: pure evaluation of an account's policy over one message.

Rule for this package: pure. No Redis, no Flask, no clock, no environment;
whatever needs I/O (rate-limit counts, the audit log, review holds) is done by
``bridge.review.gate`` and ``bridge.review.holds``, which pass facts in and act on the
``Verdict`` that comes out. The policy document itself is validated by
``bridge.schemas.policy``.

Inbound order (``bridge.policy.inbound``), one verdict per message:

1. **Sender rules**, in list order; the first rule whose ``match`` fits the
   From address wins. No rule fits: ``defaultAction``. A fitting rule whose
   ``require`` (dmarc / dkim / spf) fails does not fall through to later rules:
   the message gets ``defaultAction`` (reason ``require_failed:<check>``).
2. **Rate limit** of the winning rule (only when its ``require`` passed and
   its action is not ``reject``): past ``perHour`` or ``perDay`` the message is
   held or rejected as ``rateLimit.action`` says (default ``hold``).
3. **Content guards**, in list order, over subject, text and HTML; the first
   hit counts. A guard may only tighten (``hold`` or ``reject``), and it
   overrides a ``deliver`` from a sender rule: a prompt-injection guard must
   catch a verified sender too. A ``reject`` from step 1 or 2 is final and the
   body is not scanned.

Every pattern runs under a time limit (the ``regex`` package's ``timeout=``):
a pattern that runs out of time counts as a hit with reason ``guard_timeout``
(fail closed), with the guard's own action.

Outbound order (``bridge.policy.outbound``): content guards first (a
``reject`` refuses the submission, a ``hold`` holds it), then ``review``
(``never``, ``always``, ``external``: a recipient outside the account's own
domain, ``{"recipientsOver": n}``: more than n envelope recipients).

May import: schemas.policy (the policy document).
Purity: all
"""
