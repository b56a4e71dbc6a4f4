import sys

from openkms.cli.main import main

sys.exit(main())
