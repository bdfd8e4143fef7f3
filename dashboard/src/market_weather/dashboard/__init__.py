"""The dashboard: markets, weather and air, and the pipeline's health, in a browser.

A FastAPI app (`app.py`) serves three pages and the JSON API under `/api/` that they call every ten
seconds. It reads the warehouse as the read-only login (`DASHBOARD_DB_USER`) and the lake only through
queries (`data.py`); its browser libraries are npm packages it serves itself (`assets.py`).
Run it with `python -m market_weather.dashboard`; the local stack and compose both do.
"""
