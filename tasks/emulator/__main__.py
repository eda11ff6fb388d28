"""`python -m tasks.emulator [options]`: the same as `rowrelay emulator`."""

from tasks.emulator.cli import main

main()
