"""pytest setup for the chart's run launcher module (chart/dagster/files/dagster_dev_launcher.py).

Run from the repository root with a Python that has dagster 1.13.27, dagster-k8s and
dagster-celery-k8s 0.29.27:

    python -m pytest -p no:cacheprovider chart/testdata/launcher

or through Go: DAGSTER_DEV_PYTHON=/path/to/python go test ./chart -run LauncherPython
"""

import os
import sys

# The module lives in the chart's files/ directory, which Go embeds into the binary: never leave
# __pycache__ there (it would change the chart's digest).
sys.dont_write_bytecode = True

FILES_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "dagster", "files"))
if FILES_DIR not in sys.path:
    sys.path.insert(0, FILES_DIR)
