from refimpl.cli import console

console()
