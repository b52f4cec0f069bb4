"""The sample market and loan book: a deterministic generator and the files it produced."""

from carbonfin.data.schema import TABLES, load_table, sample_dir

__all__ = ["TABLES", "load_table", "sample_dir"]
