"""The scripts behind the README's tables (`python -m segnet.benchmarks.scripts.<name>`): each measures,
prints a markdown table with the machine and its own command line, and writes NAME.md and NAME.json."""
