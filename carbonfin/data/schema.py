"""The sample market's files: names, columns, types. The contract between the generator
(:mod:`carbonfin.data.generate`), the loader (:func:`load_table`) and the store's seeding.

All files are UTF-8 CSV with a header row, ``\\n`` line endings, ISO dates, an empty cell for a
missing value, and money/quantities written as plain decimals (never exponent notation).
Repositories in ``carbonfin.store`` return frames with the same column names.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import pandas as pd

from carbonfin.errors import DataIntegrityError

__all__ = ["REGISTRY_EVENT_KINDS", "TABLES", "Column", "Table", "load_table", "sample_dir"]

Kind = Literal["str", "date", "int", "decimal", "float", "bool"]

#: Kinds of registry events. The first four change a holding's balance (allocation and purchase
#: add, sale and surrender remove); the pledge events lock and unlock part of it.
REGISTRY_EVENT_KINDS = (
    "allocation",
    "purchase",
    "sale",
    "surrender",
    "pledge_registered",
    "pledge_released",
)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind
    nullable: bool = False
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _t(name: str, key: tuple[str, ...], doc: str, *cols: Column) -> Table:
    return Table(name, tuple(cols), key, doc)


C = Column
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        _t(
            "prices",
            ("instrument", "date"),
            "Daily quotes per instrument on China SSE business days; a no-trade day has "
            "volume 0 and empty prices.",
            C("date", "date"),
            C("instrument", "str", doc="SHEA, CEA or CCER"),
            C("open_cny_per_t", "decimal", True),
            C("high_cny_per_t", "decimal", True),
            C("low_cny_per_t", "decimal", True),
            C("close_cny_per_t", "decimal", True),
            C("vwap_cny_per_t", "decimal", True),
            C("volume_t", "int"),
            C("amount_cny", "decimal"),
        ),
        _t(
            "fx_fixings",
            ("pair", "date"),
            "Daily FX fixings: CNY central parity (CFETS) for USD, EUR, HKD, JPY (quote CNY per "
            "1 unit of the base), and the USD/CNH fixing in Hong Kong.",
            C("date", "date"),
            C("pair", "str", doc="BASE/QUOTE, e.g. USD/CNY"),
            C("rate", "decimal", doc="units of QUOTE per 1 BASE"),
            C("kind", "str", doc="central_parity or cnh_fixing"),
        ),
        _t(
            "institutions",
            ("institution_id",),
            "Banks lending against carbon pledges, and the central-bank branch (read-only).",
            C("institution_id", "str"),
            C("name", "str"),
            C("name_zh", "str"),
            C("kind", "str", doc="bank or central_bank"),
            C("uscc", "str"),
            C("swift_bic", "str", True),
        ),
        _t(
            "firms",
            ("uscc",),
            "Firms with their GB/T 4754-2017 industry and disclosure/target commitments.",
            C("uscc", "str"),
            C("name", "str"),
            C("name_zh", "str"),
            C("industry_code", "str", doc="GB/T 4754-2017, e.g. C3011"),
            C("sector", "str", doc="carbonfin.scoring.ids.Sector value"),
            C("district", "str"),
            C("founded_year", "int"),
            C("listed", "bool"),
            C("discloses_emissions", "bool"),
            C("target_year", "int", True),
            C("target_reduction_frac", "float", True),
            C("net_zero_year", "int", True),
        ),
        _t(
            "facilities",
            ("facility_id",),
            "Facilities (installations, sites, buildings) of each firm.",
            C("facility_id", "str"),
            C("uscc", "str"),
            C("name", "str"),
            C("kind", "str"),
            C("district", "str"),
            C("commissioned_year", "int"),
        ),
        _t(
            "facility_emissions",
            ("facility_id", "year"),
            "Yearly facility emissions; an empty value is a missing report, never a zero.",
            C("facility_id", "str"),
            C("year", "int"),
            C("scope1_tco2e", "decimal", True),
            C("scope2_tco2e", "decimal", True),
            C("data_quality", "str", doc="verified, metered, self_reported or estimated"),
        ),
        _t(
            "firm_years",
            ("uscc", "year"),
            "Yearly firm-level output, value added, balance sheet (for PCAF) and green power.",
            C("uscc", "str"),
            C("year", "int"),
            C("output_qty", "decimal", True),
            C("output_unit", "str"),
            C("value_added_cny", "decimal", True),
            C("revenue_cny", "decimal", True),
            C("equity_cny", "decimal"),
            C("debt_cny", "decimal"),
            C("electricity_mwh", "decimal", True),
            C("green_certificates", "int", doc="green electricity certificates, 1 = 1 MWh"),
            C("disclosed", "bool", doc="published its emissions for the year"),
        ),
        _t(
            "compliance",
            ("uscc", "year"),
            "Allowance allocation and surrender per covered firm and compliance year.",
            C("uscc", "str"),
            C("year", "int"),
            C("instrument", "str"),
            C("allocated_t", "int"),
            C("verified_emissions_tco2e", "int"),
            C("surrendered_t", "int"),
            C("ccer_used_t", "int"),
            C("shortfall_t", "int"),
            C("surrender_date", "date", True),
        ),
        _t(
            "loans",
            ("loan_id",),
            "Loans by the banks to the firms.",
            C("loan_id", "str"),
            C("bank_id", "str"),
            C("borrower_uscc", "str"),
            C("currency", "str"),
            C("principal", "decimal"),
            C("outstanding", "decimal"),
            C("origination_date", "date"),
            C("maturity_date", "date"),
            C("rate", "float", doc="annual rate as a decimal"),
            C("purpose", "str", doc="green, transition or general"),
            C("status", "str"),
        ),
        _t(
            "pledges",
            ("pledge_id",),
            "Carbon allowances and credits pledged as collateral for loans.",
            C("pledge_id", "str"),
            C("loan_id", "str"),
            C("instrument", "str"),
            C("vintage", "int", True),
            C("quantity_t", "int"),
            C("registration_no", "str", True, "pledge registration number; empty while pending"),
            C("registration_date", "date", True, "date the registry recorded the pledge"),
            C("status", "str", doc="active, released or enforced (as of the sample's date)"),
            C(
                "pledgor_uscc",
                "str",
                doc="holder of the pledged allowances: the borrower or a "
                "third-party guarantor firm",
            ),
            C("release_date", "date", True, "date the registry released the pledge"),
        ),
        _t(
            "registry_events",
            ("event_id",),
            "Allowance registry movements per firm, instrument and vintage: allocation, purchase, "
            "sale, surrender (change the balance) and pledge_registered / pledge_released (lock "
            "and unlock a quantity of the balance). Consistent with compliance and pledges.",
            C("event_id", "str"),
            C("date", "date"),
            C("uscc", "str"),
            C("instrument", "str"),
            C("vintage", "int", True, "allowance vintage year; empty for CCER"),
            C("kind", "str", doc=", ".join(REGISTRY_EVENT_KINDS)),
            C("quantity_t", "int", doc="tonnes moved or locked, always > 0"),
            C("pledge_id", "str", True, "the pledge locked or released"),
        ),
    )
}
del C

MANIFEST = "manifest.json"


def sample_dir() -> Path:
    """Directory of the shipped sample files (inside the installed package)."""
    return Path(str(resources.files("carbonfin.data").joinpath("sample")))


def _parse(series: pd.Series, col: Column, table: Table) -> pd.Series:
    raw = series.astype("string")
    empty = raw.isna() | (raw.str.len() == 0)
    if empty.any() and not col.nullable:
        line = int(empty.to_numpy().nonzero()[0][0]) + 2
        raise DataIntegrityError(
            f"{table.filename}: column {col.name!r} is empty on line {line} but may not be"
        )
    try:
        match col.kind:
            case "str":
                return raw.astype(object).where(~empty, None)
            case "date":
                days = pd.to_datetime(raw.where(~empty), format="%Y-%m-%d").dt.date
                # object dtype even when every cell is empty (pandas would give datetime64)
                return pd.Series(
                    [None if e else d for d, e in zip(days, empty, strict=True)],
                    index=raw.index,
                    dtype=object,
                )
            case "int":
                return pd.to_numeric(raw.where(~empty)).astype("Int64")
            case "decimal" | "float":
                return pd.to_numeric(raw.where(~empty)).astype("float64")
            case "bool":
                mapping = {"true": True, "false": False}
                values = raw.str.lower().map(mapping)
                bad = values.isna() & ~empty
                if bad.any():
                    raise ValueError(f"not a boolean: {raw[bad].iloc[0]!r}")
                return values.astype("boolean")
    except (ValueError, TypeError) as exc:
        raise DataIntegrityError(
            f"{table.filename}: column {col.name!r} does not hold {col.kind} values: {exc}"
        ) from exc
    raise AssertionError(col.kind)  # pragma: no cover


def load_table(name: str, directory: Path | None = None) -> pd.DataFrame:
    """Load and type-check one sample table. Decimal columns come back as float64.

    Raises :class:`DataIntegrityError` naming the file, column and line for a missing or corrupt
    file, and when the file's checksum differs from the manifest written by the generator.
    """
    try:
        table = TABLES[name]
    except KeyError:
        raise DataIntegrityError(
            f"unknown sample table {name!r}; known: {sorted(TABLES)}"
        ) from None
    directory = directory or sample_dir()
    path = directory / table.filename
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataIntegrityError(
            f"sample file {path} is missing; regenerate it with `carbonfin sample generate`"
        ) from None
    _check_manifest(directory, table.filename, data)
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataIntegrityError(
            f"{path} is empty (0 bytes; a table needs at least its header line)"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataIntegrityError(f"{path} is not a readable CSV file: {exc}") from exc
    if list(frame.columns) != table.column_names:
        raise DataIntegrityError(
            f"{path}: columns {list(frame.columns)} differ from the schema {table.column_names}"
        )
    out = pd.DataFrame({c.name: _parse(frame[c.name], c, table) for c in table.columns})
    if out.duplicated(list(table.key)).any():
        dup = out[out.duplicated(list(table.key), keep=False)].iloc[0]
        key = {k: dup[k] for k in table.key}
        raise DataIntegrityError(f"{path}: duplicate key {key}")
    return out


def _check_manifest(directory: Path, filename: str, data: bytes) -> None:
    manifest_path = directory / MANIFEST
    if not manifest_path.exists():
        return
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected = manifest["files"][filename]["sha256"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataIntegrityError(f"{manifest_path} is corrupt or lacks {filename}: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise DataIntegrityError(
            f"{directory / filename} is corrupt: sha256 {actual[:12]}… differs from the manifest's "
            f"{expected[:12]}…; regenerate it with `carbonfin sample generate`"
        )


def write_table(name: str, frame: pd.DataFrame, directory: Path) -> bytes:
    """Write ``frame`` as the sample table ``name`` deterministically; return the bytes written.

    Floats in ``decimal`` columns must already be rounded by the caller; they are written with
    ``repr``-free fixed notation so that regeneration is byte-identical.
    """
    table = TABLES[name]
    if list(frame.columns) != table.column_names:
        raise DataIntegrityError(
            f"{name}: columns {list(frame.columns)} differ from the schema {table.column_names}"
        )
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.column_names)
    formatters = [_formatter(c) for c in table.columns]
    for row in frame.itertuples(index=False, name=None):
        writer.writerow([fmt(v) for fmt, v in zip(formatters, row, strict=True)])
    data = buf.getvalue().encode("utf-8")
    (directory / table.filename).write_bytes(data)
    return data


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _formatter(col: Column):  # type: ignore[no-untyped-def]
    def fmt(value: object) -> str:
        if _is_missing(value):
            return ""
        match col.kind:
            case "bool":
                return "true" if value else "false"
            case "int":
                return str(int(value))  # type: ignore[call-overload]
            case "decimal":
                text = f"{float(value):.6f}".rstrip("0").rstrip(".")  # type: ignore[arg-type]
                return "0" if text in ("-0", "") else text
            case "float":
                return f"{float(value):.10g}"  # type: ignore[arg-type]
            case "date":
                return str(value.isoformat())  # type: ignore[attr-defined]
            case _:
                return str(value)

    return fmt
