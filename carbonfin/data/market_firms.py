"""Synthetic institutions, firms and carbon accounts of the sample market.

The banks and the central-bank branch, the firms (unified social credit codes, GB/T 4754-2017
industries and sectors), their facilities, yearly emissions and Shanghai pilot compliance. The
loans and pledges on top of them are in :mod:`carbonfin.data.market_book`, which re-exports these
names; ID formats are listed there.

Every firm is in a GB/T 4754-2017 industry whose sector (``carbonfin.scoring.ids.sector_of``)
matches the ``sector`` column. Emissions follow sector intensities with a firm-specific level and
trend; scope 2 is location-based with the Shanghai grid factor. Values marked ``assumed`` are the
sample's plausible choices, not published statistics.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carbonfin.scoring.ids import sector_of, uscc_check_character

D = dt.date
AS_OF = D(2026, 10, 30)
YEARS = np.arange(2019, 2026)
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"

#: Shanghai grid emission factor, tCO2/MWh: 上海市生态环境局《关于调整本市温室气体排放核算指南相关
#: 排放因子数值的通知》(2022): 4.2 tCO2 per 10^4 kWh = 0.42 tCO2/MWh.
GRID_TCO2_PER_MWH = 0.42

#: CCER offsets: at most 5% of verified emissions — 碳排放权交易管理办法(试行) (生态环境部令第19号,
#: 2020) art. 29 for the national market; the Shanghai pilot rule is taken the same (assumed).
CCER_OFFSET_CAP_FRAC = 0.05

#: Shanghai pilot coverage: industrial emitters >= 20,000 tCO2e/yr, others >= 10,000
#: (上海市碳排放管理试行办法, 沪府令10号, 2013, and the 2013 pilot implementation plan).
PILOT_THRESHOLD_TCO2E = {"industrial": 20_000.0, "other": 10_000.0}

DISTRICTS = {
    "0101": "Huangpu", "0104": "Xuhui", "0105": "Changning", "0106": "Jing'an",
    "0107": "Putuo", "0109": "Hongkou", "0110": "Yangpu", "0112": "Minhang",
    "0113": "Baoshan", "0114": "Jiading", "0115": "Pudong", "0116": "Jinshan",
    "0117": "Songjiang", "0118": "Qingpu", "0120": "Fengxian", "0151": "Chongming",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SectorSpec:
    n_firms: int
    codes: tuple[str, ...]
    name_en: str
    name_zh: str
    facility_kind: str
    output_unit: str
    output_median: float  # per firm per year
    scope1_per_unit: float  # tCO2e per output unit (firm median)
    mwh_per_unit: float  # electricity per output unit
    va_cny_per_unit: float  # value added per output unit
    industrial: bool


# Intensities are assumed sector medians in line with national benchmarks' orders of magnitude
# (e.g. coal power ~0.8 tCO2/MWh, BF-BOF steel ~1.9 t/t, clinker cement ~0.6 t/t).
SECTORS: dict[str, SectorSpec] = {
    "power": SectorSpec(60, ("D4411", "D4412"), "Power", "电力", "power_plant", "MWh",
                        2.0e6, 0.80, 0.05, 90.0, True),
    "steel": SectorSpec(30, ("C3110", "C3120", "C3130"), "Steel", "钢铁", "steel_works", "t_steel",
                        1.2e6, 1.90, 0.45, 600.0, True),
    "petrochemical": SectorSpec(25, ("C2511",), "Refining", "石化", "refinery", "t_crude",
                                3.0e6, 0.25, 0.08, 450.0, True),
    "chemical": SectorSpec(80, ("C2614", "C2651", "C2611", "C2821"), "Chemicals", "化工",
                           "chemical_plant", "t_product", 2.5e5, 1.10, 0.60, 2200.0, True),
    "cement": SectorSpec(20, ("C3011",), "Cement", "水泥", "cement_plant", "t_cement",
                         1.2e6, 0.60, 0.09, 160.0, True),
    "other_energy_intensive": SectorSpec(70, ("C3041", "C3216", "C2211", "C1713"), "Materials",
                                         "材料", "plant", "t_product", 1.5e5, 0.80, 0.90, 1500.0,
                                         True),
    "aviation": SectorSpec(15, ("G5611", "G5612"), "Airlines", "航空", "fleet", "t_km",
                           1.5e9, 0.00085, 0.000002, 2.2, False),
    "water_transport": SectorSpec(25, ("G5521", "G5522"), "Shipping", "航运", "fleet", "t_km",
                                  6.0e9, 0.000012, 0.0000002, 0.04, False),
    "data_centre": SectorSpec(40, ("I6450",), "Data Centre", "数据中心", "data_centre",
                              "MWh_it", 6.0e4, 0.01, 1.45, 900.0, False),
    "buildings": SectorSpec(80, ("K7020", "L7212", "H6110"), "Properties", "置业", "building",
                            "m2", 1.2e5, 0.012, 0.13, 900.0, False),
    "public_institution": SectorSpec(80, ("P8341", "Q8411"), "Institute", "院", "campus", "m2",
                                     2.5e5, 0.018, 0.11, 500.0, False),
    "other": SectorSpec(115, ("C3670", "C3971", "C2710", "C1310"), "Manufacturing", "制造",
                        "factory", "t_product", 5.0e4, 0.30, 1.10, 6000.0, True),
}  # fmt: skip

BANKS = (
    ("BANK-01", "Huangpu River Commercial Bank", "黄浦江商业银行", "HPRBCNSH"),
    ("BANK-02", "Pudong Green Development Bank", "浦东绿色发展银行", "PDGBCNSH"),
    ("BANK-03", "Bund Industrial Bank", "外滩兴业银行", "BUNDCNSH"),
    ("BANK-04", "Yangtze Delta Rural Commercial Bank", "长三角农村商业银行", "YDRCCNSH"),
    ("BANK-05", "Lujiazui Trust Bank", "陆家嘴信托银行", "LJZTCNSH"),
    ("BANK-06", "East China Merchants Bank", "华东招商银行", "ECMBCNSH"),
    ("BANK-07", "Shanghai Branch, Pacific Rim Bank", "环太平洋银行上海分行", "PRIMCNSH"),
)


def _uscc(rng: np.random.Generator, prefix: str) -> str:
    body = "".join(_USCC_CHARS[i] for i in rng.integers(0, 31, 17 - len(prefix)))
    first17 = prefix + body
    return first17 + uscc_check_character(first17)


def _unique_usccs(rng: np.random.Generator, prefixes: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for prefix in prefixes:
        code = _uscc(rng, prefix)
        while code in seen:
            code = _uscc(rng, prefix)
        seen.add(code)
        out.append(code)
    return out


def institutions(rng: np.random.Generator) -> pd.DataFrame:
    prefixes = ["91310000"] * len(BANKS) + ["11310000"]
    codes = _unique_usccs(rng, prefixes)
    rows = [
        (bank_id, name, name_zh, "bank", code, bic)
        for (bank_id, name, name_zh, bic), code in zip(BANKS, codes[:-1], strict=True)
    ]
    rows.append(
        ("PBOC-SH", "People's Bank of China Shanghai Head Office", "中国人民银行上海总部",
         "central_bank", codes[-1], "PBOCCNBJ")
    )  # fmt: skip
    columns = ["institution_id", "name", "name_zh", "kind", "uscc", "swift_bic"]
    return pd.DataFrame(rows, columns=columns)


_NAME_WORDS = (
    ("Donghai", "东海"), ("Jinqiao", "金桥"), ("Hengtai", "恒泰"), ("Huaxin", "华信"),
    ("Shenneng", "申能"), ("Zhaofeng", "兆丰"), ("Lingang", "临港"), ("Minsheng", "民生"),
    ("Xinhua", "新华"), ("Tianyi", "天逸"), ("Baohua", "宝华"), ("Changjiang", "长江"),
    ("Haitong", "海通"), ("Guofu", "国富"), ("Ruiyuan", "瑞源"), ("Yongda", "永达"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Firms:
    firms: pd.DataFrame
    spec: list[SectorSpec]  # per firm
    size: np.ndarray  # output scale multiplier per firm
    intensity: np.ndarray  # scope-1 intensity multiplier per firm
    trend: np.ndarray  # yearly intensity change per firm (log)


def firms(rng: np.random.Generator) -> Firms:
    sectors = [name for name, spec in SECTORS.items() for _ in range(spec.n_firms)]
    specs = [SECTORS[s] for s in sectors]
    n = len(sectors)
    district_codes = list(DISTRICTS)
    district = rng.integers(0, len(district_codes), n)
    prefixes = [
        ("12310000" if s == "public_institution" else "9131" + district_codes[d])
        for s, d in zip(sectors, district, strict=True)
    ]
    usccs = _unique_usccs(rng, prefixes)
    pick = rng.integers(0, 12, n)  # 12 is divisible by every sector's number of codes (1-4)
    codes = [spec.codes[int(i) % len(spec.codes)] for spec, i in zip(specs, pick, strict=True)]
    for code, sector in zip(codes, sectors, strict=True):
        assert sector_of(code).value == sector, (code, sector)
    w1 = rng.integers(0, len(_NAME_WORDS), n)
    names = [
        f"Shanghai {_NAME_WORDS[i][0]} {spec.name_en} Co., Ltd. {k:03d}"
        for k, (i, spec) in enumerate(zip(w1, specs, strict=True))
    ]
    names_zh = [
        f"上海{_NAME_WORDS[i][1]}{spec.name_zh}有限公司{k:03d}"
        for k, (i, spec) in enumerate(zip(w1, specs, strict=True))
    ]
    discloses = rng.random(n) < 0.45
    has_target = discloses & (rng.random(n) < 0.6)
    target_year = np.where(has_target, rng.choice([2025, 2030, 2035], n), 0)
    target_frac = np.where(has_target, np.round(rng.uniform(0.1, 0.5, n), 2), np.nan)
    net_zero = np.where(has_target & (rng.random(n) < 0.5), rng.choice([2050, 2055, 2060], n), 0)
    frame = pd.DataFrame(
        {
            "uscc": usccs,
            "name": names,
            "name_zh": names_zh,
            "industry_code": codes,
            "sector": sectors,
            "district": [DISTRICTS[district_codes[d]] for d in district],
            "founded_year": rng.integers(1952, 2016, n),
            "listed": rng.random(n) < 0.18,
            "discloses_emissions": discloses,
            "target_year": pd.array(
                [int(y) if y > 0 else None for y in target_year], dtype="Int64"
            ),
            "target_reduction_frac": target_frac,
            "net_zero_year": pd.array([int(y) if y > 0 else None for y in net_zero], dtype="Int64"),
        }
    )
    size = np.exp(rng.normal(0.0, 0.9, n))
    intensity = np.exp(rng.normal(0.0, 0.25, n))
    trend = rng.normal(-0.025, 0.03, n)
    return Firms(frame, specs, size, intensity, trend)


@dataclass(frozen=True, slots=True)
class Accounts:
    facilities: pd.DataFrame
    facility_emissions: pd.DataFrame
    firm_years: pd.DataFrame
    compliance: pd.DataFrame
    firm_emissions: np.ndarray  # (firms, years) true scope 1 + 2, tCO2e


def accounts(rng: np.random.Generator, f: Firms) -> Accounts:
    n = len(f.firms)
    ny = len(YEARS)
    out_median = np.array([s.output_median for s in f.spec])
    growth = rng.normal(0.02, 0.04, n)
    t = np.arange(ny)
    output = (
        out_median[:, None]
        * f.size[:, None]
        * np.exp(growth[:, None] * t + rng.normal(0, 0.05, (n, ny)))
    )
    s1_int = np.array([s.scope1_per_unit for s in f.spec])[:, None] * f.intensity[:, None]
    s1_int = s1_int * np.exp(f.trend[:, None] * t)
    scope1 = output * s1_int * np.exp(rng.normal(0, 0.04, (n, ny)))
    mwh = output * np.array([s.mwh_per_unit for s in f.spec])[:, None]
    mwh = mwh * np.exp(rng.normal(0, 0.05, (n, ny)))
    scope2 = mwh * GRID_TCO2_PER_MWH
    va = output * np.array([s.va_cny_per_unit for s in f.spec])[:, None]
    va = va * np.exp(rng.normal(0, 0.08, (n, ny)))
    total = scope1 + scope2

    # facilities: 1-5 per firm, emissions split by fixed Dirichlet weights
    n_fac = np.minimum(1 + rng.poisson(0.9, n), 5)
    fac_firm = np.repeat(np.arange(n), n_fac)
    nf = len(fac_firm)
    weights = rng.gamma(2.0, 1.0, nf)
    weights = weights / np.bincount(fac_firm, weights)[fac_firm]
    fac_ids = [f"FAC-{i + 1:06d}" for i in range(nf)]
    usccs = f.firms["uscc"].to_numpy()
    districts = list(DISTRICTS.values())
    facilities = pd.DataFrame(
        {
            "facility_id": fac_ids,
            "uscc": usccs[fac_firm],
            "name": [
                f"{f.spec[i].facility_kind.replace('_', ' ')} {k}"
                for k, i in zip(
                    np.arange(nf) - np.searchsorted(fac_firm, fac_firm) + 1, fac_firm, strict=True
                )
            ],
            "kind": [f.spec[i].facility_kind for i in fac_firm],
            "district": [districts[i] for i in rng.integers(0, len(districts), nf)],
            "commissioned_year": rng.integers(1985, 2019, nf),
        }
    )

    # data quality: big industrial emitters metered/verified; small ones self-reported/estimated
    big = total.mean(axis=1) >= 20_000
    p_verified = np.where(big, 0.55, 0.10)
    p_metered = np.where(big, 0.30, 0.10)
    u = rng.random((nf, ny))
    pv = p_verified[fac_firm][:, None]
    pm = p_metered[fac_firm][:, None]
    quality = np.where(u < pv, "verified", np.where(u < pv + pm, "metered",
                       np.where(u < pv + pm + 0.35, "self_reported", "estimated")))  # fmt: skip
    noise_sd = np.select(
        [quality == "verified", quality == "metered", quality == "self_reported"],
        [0.01, 0.02, 0.06],
        0.15,
    )
    noise = np.exp(rng.normal(0, 1, (nf, ny)) * noise_sd)
    fs1 = scope1[fac_firm] * weights[:, None] * noise
    fs2 = scope2[fac_firm] * weights[:, None] * noise
    missing = rng.random((nf, ny)) < 0.03
    fs1 = np.where(missing, np.nan, np.round(fs1, 3))
    fs2 = np.where(missing | (rng.random((nf, ny)) < 0.02), np.nan, np.round(fs2, 3))
    quality = np.where(missing, "estimated", quality)
    facility_emissions = pd.DataFrame(
        {
            "facility_id": np.repeat(fac_ids, ny),
            "year": np.tile(YEARS, nf),
            "scope1_tco2e": fs1.ravel(),
            "scope2_tco2e": fs2.ravel(),
            "data_quality": quality.ravel(),
        }
    )

    # firm-years: balance sheet for PCAF attribution, green certificates, disclosure
    revenue = va * np.exp(rng.normal(1.0, 0.3, (n, 1)))
    equity = revenue * np.exp(rng.normal(-0.2, 0.4, (n, 1)))
    debt = equity * np.exp(rng.normal(0.0, 0.5, (n, 1)))
    green_share = np.where(rng.random((n, 1)) < 0.35, rng.uniform(0.02, 0.4, (n, 1)), 0.0)
    green_share = np.clip(green_share * (1 + 0.15 * t), 0, 0.9)
    certificates = np.floor(mwh * green_share)
    disclosed = f.firms["discloses_emissions"].to_numpy()[:, None] & (rng.random((n, ny)) < 0.9)
    out_missing = rng.random((n, ny)) < 0.03
    va_missing = rng.random((n, ny)) < 0.05
    firm_years = pd.DataFrame(
        {
            "uscc": np.repeat(usccs, ny),
            "year": np.tile(YEARS, n),
            "output_qty": np.where(out_missing, np.nan, np.round(output, 2)).ravel(),
            "output_unit": np.repeat([s.output_unit for s in f.spec], ny),
            "value_added_cny": np.where(va_missing, np.nan, np.round(va, -2)).ravel(),
            "revenue_cny": np.round(revenue, -2).ravel(),
            "equity_cny": np.round(equity, -2).ravel(),
            "debt_cny": np.round(debt, -2).ravel(),
            "electricity_mwh": np.round(mwh, 1).ravel(),
            "green_certificates": certificates.astype(np.int64).ravel(),
            "disclosed": disclosed.ravel(),
        }
    )
    compliance = _compliance(rng, f, total)
    return Accounts(facilities, facility_emissions, firm_years, compliance, total)


def _compliance(rng: np.random.Generator, f: Firms, total: np.ndarray) -> pd.DataFrame:
    """Allocation and surrender for covered firms (Shanghai pilot; power in the national ETS
    from 2021). Surrender deadlines: SHEA 30 June of the next year (沪府令10号 art. 18); CEA
    31 December of the next year (生态环境部 deadlines for the 2021-2022 period: 2023-12-31)."""
    industrial = np.array([s.industrial for s in f.spec])
    threshold = np.where(industrial, PILOT_THRESHOLD_TCO2E["industrial"],
                         PILOT_THRESHOLD_TCO2E["other"])  # fmt: skip
    covered = (total.mean(axis=1) >= threshold) & (f.firms["sector"].to_numpy() != "data_centre")
    is_power = f.firms["sector"].to_numpy() == "power"
    idx = np.flatnonzero(covered)
    ny = len(YEARS)
    firm_i = np.repeat(idx, ny)
    year = np.tile(YEARS, len(idx))
    verified = np.round(total[idx].ravel()).astype(np.int64)
    national = is_power[firm_i] & (year >= 2021)
    instrument = np.where(national, "CEA", "SHEA")
    allocated = np.round(verified * rng.uniform(0.90, 1.06, len(verified))).astype(np.int64)
    ccer = np.where(
        rng.random(len(verified)) < 0.25,
        np.floor(verified * rng.uniform(0.0, CCER_OFFSET_CAP_FRAC, len(verified))),
        0,
    ).astype(np.int64)
    short = rng.random(len(verified)) < 0.04
    due = verified - ccer
    surrendered = np.where(short, np.floor(due * rng.uniform(0.85, 0.99, len(due))), due)
    surrendered = surrendered.astype(np.int64)
    shortfall = due - surrendered
    deadline = np.array(
        [
            D(y + 1, 12, 31) if nat else D(y + 1, 6, 30)
            for y, nat in zip(year, national, strict=True)
        ]
    )
    offset_days = np.where(rng.random(len(year)) < 0.06, rng.integers(1, 45, len(year)),
                           -rng.integers(0, 40, len(year)))  # fmt: skip
    surrender = np.array(
        [d + dt.timedelta(days=int(o)) for d, o in zip(deadline, offset_days, strict=True)]
    )
    surrender_date = [s if s <= AS_OF else None for s in surrender]
    usccs = f.firms["uscc"].to_numpy()
    return pd.DataFrame(
        {
            "uscc": usccs[firm_i],
            "year": year,
            "instrument": instrument,
            "allocated_t": allocated,
            "verified_emissions_tco2e": verified,
            "surrendered_t": np.where(pd.isna(surrender_date), 0, surrendered),
            "ccer_used_t": np.where(pd.isna(surrender_date), 0, ccer),
            "shortfall_t": np.where(pd.isna(surrender_date), 0, shortfall),
            "surrender_date": surrender_date,
        }
    )
