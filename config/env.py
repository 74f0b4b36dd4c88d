"""Where Assay lives and how its settings read the environment (.env, then the process environment).

Imported by config/settings.py and each integration module in config/settings_parts/. Nothing here
touches the disk beyond reading .env: folders are made by what writes into them.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
# The embedded development setup keeps its SQLite file, static files, media, exports and broker here.
# The folder is part of the checkout (var/.gitkeep), so SQLite can open its file in a fresh clone.
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
