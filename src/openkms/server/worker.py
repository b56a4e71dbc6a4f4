"""Entry point of each server process when ``openkms serve --workers N`` runs several.

The parent process does the first-start work once, then passes its settings to the
workers through one environment variable; each worker opens its own connections.
"""

from __future__ import annotations

import json
import os

from openkms.server.app import OpenKMSApp
from openkms.server.bootstrap import Settings, build

SETTINGS_ENV = "OPENKMS_WORKER_SETTINGS"


def create_app() -> OpenKMSApp:
    settings = Settings(**json.loads(os.environ[SETTINGS_ENV]))
    return OpenKMSApp(build(settings))
