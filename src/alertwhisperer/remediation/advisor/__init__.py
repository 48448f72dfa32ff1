"""The optional AI advisor of the decision engine: one Protocol (``base.Advisor``), one module per provider,
``factory.advisor_from(settings)`` (None when ``advisor_provider`` is "off": no advisor, no network).

The advisor can only re-order the runbooks the rules matched; every execution still passes the same gates.
"""
