"""Packaged incident rule packs (YAML data). This file only makes ``packs`` a package so that the
``"*" = ["*.yaml"]`` package-data rule ships the YAML files in built wheels."""
