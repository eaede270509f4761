"""`python -m persona_mining.cli`: the command line."""

from persona_mining.cli import main

main()
