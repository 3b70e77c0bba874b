"""The command line: `python -m bench COMMAND` parsed (`parser`) and dispatched to what each command does (`commands`).

May import `bench.run`, `bench.sweep`, `bench.report`, `bench.gate`, `bench.doctor` and the shared vocabulary;
nothing in `bench` imports it.
"""
