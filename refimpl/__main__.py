from refimpl.tools.cli import console

console()
