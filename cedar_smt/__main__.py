"""`python -m cedar_smt`: the `cedar-smt` command."""

from cedar_smt.analyzer.cli import main

if __name__ == "__main__":
    main(prog_name="cedar-smt")
