import sys

from monitor.cli.entry import main

sys.exit(main())
