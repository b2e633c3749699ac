import sys

from segnet.cli import main

sys.exit(main())
