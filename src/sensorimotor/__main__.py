"""``python -m sensorimotor`` runs the CLI."""

import sys

from sensorimotor.cli import main

sys.exit(main())
