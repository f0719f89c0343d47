"""The ``asearcher`` command line. Each subcommand lives in its own module with ``add_parser`` and ``run``;
modules import only argparse-level things at import time and the heavy parts inside ``run``."""
