"""The ``flowwatch`` command line (typer): the local stack (``up``/``down``/``status``/``demo``), samples and
replay, ``scan``, ``keys``, ``dead-letters redrive`` and ``init-cluster`` (``flowwatch.cluster``)."""
