"""hostform's version: pyproject.toml reads it from here (setuptools' dynamic version), and
`hostform --version` prints it without reading the installed metadata (~10 ms at start)."""

VERSION = "0.1.0"
