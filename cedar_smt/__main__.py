"""`python -m cedar_smt`: the `cedar-smt` command."""

from cedar_smt.launch import main

if __name__ == "__main__":
    main()
