"""Typed dependencies of the routers: ``Annotated`` aliases, as in the FastAPI full-stack template.

A route says what it needs by the type of a parameter, never by spelling out ``Depends(...)``::

    def list_things(principal: CurrentPrincipal, es: EsDep, settings: SettingsDep) -> ThingsPage: ...

- App objects (created once per app by ``create_app``, held in ``app.state``): ``EsDep`` (the Elasticsearch
  client), ``SettingsDep``, ``AggCacheDep`` (``partitions.PartitionAggCache``) and the Kafka producers
  ``IncidentProducerDep`` (``incident-updates``), ``RegistryProducerDep`` (``processor-registry``) and
  ``EventsProducerDep`` (``flow-events``).
- The caller (``flowwatch_api.auth``): ``CurrentPrincipal`` (any authenticated role), or a principal whose
  role is one of a set (403 otherwise): ``AdminPrincipal``, ``AnalystPrincipal`` (admin, soc_analyst),
  ``PublisherPrincipal`` (admin, platform), ``WriterPrincipal`` (every role but regulator) and
  ``AllTenantsReader`` (the roles that read every tenant: admin, soc_analyst, regulator).

``app_es`` and ``app_settings`` stay in ``flowwatch_api.auth`` (authentication looks keys up with them) and
are the same functions here, so ``app.dependency_overrides[app_es]`` replaces the client of every route.
"""

from __future__ import annotations

from typing import Annotated

from elasticsearch import Elasticsearch
from fastapi import Depends, Request

from flowwatch.apikeys import Role
from flowwatch.settings import ApiSettings
from flowwatch_api.auth import CurrentPrincipal, Principal, app_es, app_settings, require_roles
from flowwatch_api.partitions import PartitionAggCache
from flowwatch_api.producer import UpdateProducer

__all__ = [
    "AdminPrincipal",
    "AggCacheDep",
    "AllTenantsReader",
    "AnalystPrincipal",
    "CurrentPrincipal",
    "EsDep",
    "EventsProducerDep",
    "IncidentProducerDep",
    "PublisherPrincipal",
    "RegistryProducerDep",
    "SettingsDep",
    "WriterPrincipal",
    "agg_cache",
    "app_es",
    "app_settings",
    "events_producer",
    "incident_producer",
    "registry_producer",
]


# ---------------------------------------------------------------------------------------------------
# App objects
# ---------------------------------------------------------------------------------------------------


def agg_cache(request: Request) -> PartitionAggCache:
    """The app's per-partition aggregation cache."""
    cache: PartitionAggCache = request.app.state.agg_cache
    return cache


def incident_producer(request: Request) -> UpdateProducer:
    """The app's producer of obligation marks (``incident-updates``)."""
    producer: UpdateProducer = request.app.state.producer
    return producer


def registry_producer(request: Request) -> UpdateProducer:
    """The app's producer of registry records (``processor-registry``)."""
    producer: UpdateProducer = request.app.state.registry_producer
    return producer


def events_producer(request: Request) -> UpdateProducer:
    """The app's producer of ingested flow events (``flow-events``)."""
    producer: UpdateProducer = request.app.state.events_producer
    return producer


EsDep = Annotated[Elasticsearch, Depends(app_es)]
"""The app's Elasticsearch client (sync; routes are plain ``def`` and run in the threadpool)."""
SettingsDep = Annotated[ApiSettings, Depends(app_settings)]
"""The app's settings."""
AggCacheDep = Annotated[PartitionAggCache, Depends(agg_cache)]
"""The app's per-partition aggregation cache (dashboard counts; invalidated by triage)."""
IncidentProducerDep = Annotated[UpdateProducer, Depends(incident_producer)]
"""Producer of ``IncidentUpdate`` records to ``incident-updates``."""
RegistryProducerDep = Annotated[UpdateProducer, Depends(registry_producer)]
"""Producer of registry entries and the restriction list to ``processor-registry``."""
EventsProducerDep = Annotated[UpdateProducer, Depends(events_producer)]
"""Producer of ingested flow events to ``flow-events``."""


# ---------------------------------------------------------------------------------------------------
# The caller, by role (403 for any other role; 401 first when unauthenticated)
# ---------------------------------------------------------------------------------------------------

AdminPrincipal = Annotated[Principal, require_roles(Role.ADMIN)]
"""An admin key."""
AnalystPrincipal = Annotated[Principal, require_roles(Role.ADMIN, Role.SOC_ANALYST)]
"""An admin or SOC analyst key (alert triage, notification routes)."""
PublisherPrincipal = Annotated[Principal, require_roles(Role.ADMIN, Role.PLATFORM)]
"""An admin or platform key (registry entries, processor lists, ingest)."""
WriterPrincipal = Annotated[Principal, require_roles(Role.ADMIN, Role.SOC_ANALYST, Role.PLATFORM)]
"""Any role but regulator (obligation marks)."""
AllTenantsReader = Annotated[Principal, require_roles(Role.ADMIN, Role.SOC_ANALYST, Role.REGULATOR)]
"""A role that reads every tenant's data: admin, SOC analyst or regulator (the restriction list, the
detection settings)."""
