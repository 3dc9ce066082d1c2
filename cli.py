#!/usr/bin/env python3
"""Run the ``letters`` command from a checkout, without installing it."""

from letters.cli import main

if __name__ == "__main__":
    main()
