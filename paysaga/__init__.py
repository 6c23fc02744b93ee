"""paysaga: a durable, workflow-orchestrated payment engine.

Everything an application imports lives under this one name (``paysaga.client``,
``paysaga.domain``, ...), so installing paysaga never shadows an application's own
``config``, ``api`` or ``client`` package. The parts the product is known by
(workflows, activities, workers, ledger) keep their top-level folders.
"""
