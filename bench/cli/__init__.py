"""The command line: `python -m bench COMMAND` parsed (`parser`) and dispatched to what each command does (`commands`).

May import every other `bench` package; nothing in `bench` imports it.
"""
