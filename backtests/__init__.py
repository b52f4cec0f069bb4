"""Backtest harness for haircut and VaR models (runs, statistics, reports, Dask runner).

Built in the backtest issue; the package exists so that the distribution installs it from the
start, as ARCHITECTURE.md lays out.
"""
