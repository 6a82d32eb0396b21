"""`python -m tests.drt`: see tests/drt/run.py."""

from .run import main

if __name__ == "__main__":
    main()
