"""Flowwatch runtime library, used by every service: the event contract and output records (``models``,
``alerts``, ``wire``), settings and clients (``settings``, ``kafka_client``, ``es_client``, ``es_indices``,
``cluster``), detection (``detection``, ``findings``), the law as data (``rules``, ``workdays``,
``calendars``), incidents (``incidents``), cross-border exports (``exports``), the processor registry
(``registry``), notifications, API keys, audit, redrives and observability. Dev and demo tooling (the
``flowwatch`` CLI, the local stack, samples, evaluation) is the separate package ``flowwatch_tools``,
which nothing here imports."""

__version__ = "0.1.0"
