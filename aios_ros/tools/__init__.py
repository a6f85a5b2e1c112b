"""Command-line entry points: argument parsing and one call into a package each."""
