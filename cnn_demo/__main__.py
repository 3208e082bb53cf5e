"""``python -m cnn_demo``."""

import sys

from cnn_demo.cli import main

sys.exit(main())
