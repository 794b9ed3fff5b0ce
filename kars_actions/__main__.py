"""Entry point for ``python -m kars_actions``."""

from kars_actions.cli import main

if __name__ == "__main__":
    main()
