"""Who really sent a message: SPF, DKIM, DMARC and ARC, over one resolver.

- ``results``            the ``auth`` verdict of a message (``verified`` only on a DMARC-aligned pass or a trusted ARC chain).
- ``received``           the trusted receiver's ``Received:`` hop: client IP and HELO for SPF.
- ``spf``, ``dkim``, ``dmarc``, ``arc``   each check (pyspf, dkimpy, the Public Suffix List), DNS only through the resolver seam.
- ``resolver_protocol``  the ``Resolver`` seam.
- ``resolver``           the production resolver (dnspython): timeouts, cache, ``BRIDGE_DNS_SERVERS``.

May import: mail, models, errors. Only ``resolver`` does I/O.
Purity: results, received, spf, dkim, dmarc, arc, resolver_protocol
"""
