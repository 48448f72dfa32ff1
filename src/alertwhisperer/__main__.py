"""``python -m alertwhisperer``: the CLI (the server starts its worker process this way)."""

from alertwhisperer.cli import main

main()
