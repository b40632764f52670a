"""``python -m gtlearn.cli``: the same as the ``gtlearn`` console script."""

import sys

from gtlearn.cli.main import main

sys.exit(main())
