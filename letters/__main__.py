"""``python -m letters`` runs the same Click app as the ``letters`` command."""

from letters.cli import main

if __name__ == "__main__":
    main()
