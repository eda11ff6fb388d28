"""`python -m rowrelay.tasks.emulator [options]`: the same as `rowrelay emulator`."""

from rowrelay.tasks.emulator.cli import main

main()
