"""What test modules share: configs on temporary lakes, landing files and mappings, lake snapshots, gold rows made
by hand, a clock that ages a lake, `clv` processes, the small pipeline run's settings and the headless browser.
Fixtures live in tests/conftest.py; no test imports another."""
