"""What `pulumi up` runs: the program in stacks/program.py, a config error shown as one line."""

import pulumi

from stacks.config import ConfigError
from stacks.program import main

try:
    main()
except ConfigError as exc:
    # RunError ends the program without the engine's traceback and source dump.
    raise pulumi.RunError(str(exc)) from None
