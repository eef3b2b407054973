"""Date-effective rule packs (docs/law.md): legal rules are data (YAML in ``packs/``), chosen by the
incident's ``occurred_at``; every computed obligation records the pack id and article it came from.

Public entry points: :func:`load_packs`, :func:`pack_for` and :func:`compute_obligations`.
"""

from flowwatch.rules.incident_pack import IncidentRulePack, load_packs, pack_for
from flowwatch.rules.obligations import IncidentFacts, Obligation, compute_obligations
from flowwatch.rules.pack_files import PackError

__all__ = [
    "IncidentFacts",
    "IncidentRulePack",
    "Obligation",
    "PackError",
    "compute_obligations",
    "load_packs",
    "pack_for",
]
