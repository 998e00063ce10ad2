"""What a field of the schema says about itself, as dataclass field metadata, so that every rule about fields is
derived from their declarations rather than listed beside them:

- ``identity()``: a field that says which run of a comparison this is (the entry, the seed, where it ran), not how
  it was configured; the "same configuration" key of every comparison is all the other fields;
- ``added(default)``: a field added after records were first written; a configuration's id leaves it out while it
  is at its default, so that adding a field renames no record.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, field

IDENTITY = "identity"
ADDED = "added"


def identity(default=MISSING):
    return field(default=default, metadata={IDENTITY: True})


def added(default, **metadata):
    return field(default=default, metadata={ADDED: True, **metadata})


def is_added(f: Field) -> bool:
    return bool(f.metadata.get(ADDED))
