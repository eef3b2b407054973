"""Flowwatch dev and demo tooling, outside the runtime library: the ``flowwatch`` CLI (``cli``), the local
stack on the embedded engines (``stack``, ``engines``: noida-db, Tansu), sample flows and replay (``samples``,
``replay``, ``compliance_summary``), the detection evaluation (``evaluation``) and the poison corpus
(``poison``). Its third-party needs are the extras ``[dev-stack]`` and ``[samples]``; no service imports it."""
