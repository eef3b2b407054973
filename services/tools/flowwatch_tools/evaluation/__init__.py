"""Evaluation of the PI scanner: a labelled synthetic corpus (``corpus``), exact/overlap precision, recall
and F2 per entity type (``metrics``), false positives on real Chinese prose (``prose_fp``) and the
``python -m flowwatch_tools.evaluation`` command (``make eval``)."""
