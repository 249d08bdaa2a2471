"""runai-conformance: the contract and conformance suite for the Run:ai Users and Tenants API.

The one import name the distribution adds. Its subpackages are the repository's top-level folders:
`specs` (the merged spec), `strategies` (Hypothesis strategies), `conformance` (the pytest plugin, the
suite and the command line) and `reference` (the embedded reference server). The wheel places them here,
beside this file; in a source checkout they stand one level up, and are found there.
"""

from __future__ import annotations

from pathlib import Path

_here = Path(__file__).resolve().parent
if not (_here / "conformance").is_dir() and (_here.parent / "conformance" / "__init__.py").is_file():
    __path__.append(str(_here.parent))  # a source checkout: the folders beside this one are the subpackages
