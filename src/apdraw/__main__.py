import sys

from apdraw.cli import main

sys.exit(main())
