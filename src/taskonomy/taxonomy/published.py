"""The published Taskonomy 2018 results (kept for imports; owned by ``affinity.published``).

The packaged tables and the safe pickle reader live in :mod:`taskonomy.affinity.published`
and :func:`taskonomy.affinity.table.read_published`; this module only re-exports them.
"""

from __future__ import annotations

from taskonomy.affinity.published import (
    PACKAGED,
    find_published_winrates,
    kind_of_published,
    packaged_dir,
    published_suffix,
    resolve_table_path,
    safe_load_pickle,
)
from taskonomy.affinity.table import read_published

__all__ = [
    "PACKAGED",
    "find_published_winrates",
    "kind_of_published",
    "packaged_dir",
    "published_suffix",
    "read_published",
    "resolve_table_path",
    "safe_load_pickle",
]
