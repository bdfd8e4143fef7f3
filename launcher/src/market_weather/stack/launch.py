"""`python -m market_weather.stack.launch ENV_FILE COMMAND...`: exec COMMAND with the environment in ENV_FILE (JSON).

supervisord's own environment= syntax cannot carry every value (JSON, quotes, %), and its
configuration file need not hold the services' passwords: the stack writes each program's
environment to a private file instead, and this replaces itself with the program.
"""

import json
import os
import sys
from pathlib import Path


def main() -> None:
    env_file, *argv = sys.argv[1:]
    os.execvpe(argv[0], argv, {**os.environ, **json.loads(Path(env_file).read_text())})


if __name__ == "__main__":
    main()
