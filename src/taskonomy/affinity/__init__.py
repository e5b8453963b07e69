"""Affinity: tournament matrices, AHP, and transfer tables."""

from taskonomy.affinity.table import TABLE_KINDS, TableKind, Transfer, TransferTable, read_table

__all__ = ["TABLE_KINDS", "TableKind", "Transfer", "TransferTable", "read_table"]
