"""Make the collection importable as ansible_collections.vmss.rollout (the root conftest creates the link)."""
import sys
from pathlib import Path

_COLLECTIONS = str(Path(__file__).resolve().parents[2] / ".tmp" / "collections")
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
