"""Differential random testing of cedar-smt against Cedar's Rust engine (the `cedarpy` package).

Seeded generators (generators.py) draw consistent schemas, policies, entities and requests;
the checks (checks.py) compare our authorizer and validator with cedarpy's, and our encoder
and analyses with our evaluator and cedarpy; `python -m tests.drt` runs many cases in
parallel and saves each mismatch as a small, self-contained repro file (run.py, repro.py).
"""
