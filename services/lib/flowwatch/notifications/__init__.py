"""Notification routes and delivery records: what the query API writes (routes, ``/v1/notification-routes``)
and the notifier service reads and records (deliveries), in Elasticsearch.

- ``models``: ``Route`` (match + one channel), ``Notification`` (one delivery of one alert over one route).
- ``store``: their indices, claims and updates.
"""
