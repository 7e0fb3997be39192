"""Development-only code that the wheel does not ship: test-server launchers (MinIO, toxiproxy,
Azurite), the demo job (`make demo`) and its dataset generators. It imports the installed
``epochcache``; nothing in ``epochcache`` imports it. Put ``devtools/`` on ``sys.path`` to use it
(tests/conftest.py, bench/harness.py and the Makefile do).
"""
