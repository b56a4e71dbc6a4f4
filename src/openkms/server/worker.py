"""Entry point of each server process when ``openkms serve --workers N`` runs several.

The parent process does the first-start work once, then passes its settings to the
workers through one environment variable, and its own pid through another: a worker
ends when that process does (openkms.server.lifeline), so that a killed parent leaves
nobody serving its port. Each worker opens its own connections.
"""

from __future__ import annotations

import json
import os

from openkms.server.app import OpenKMSApp
from openkms.server.bootstrap import Settings, build
from openkms.server.lifeline import end_with_parent
from openkms.server.logs import configure

SETTINGS_ENV = "OPENKMS_WORKER_SETTINGS"
PARENT_ENV = "OPENKMS_WORKER_PARENT"


def create_app() -> OpenKMSApp:
    end_with_parent(int(os.environ[PARENT_ENV]))
    settings = Settings(**json.loads(os.environ[SETTINGS_ENV]))
    configure(settings.log_format)
    return OpenKMSApp(build(settings))
