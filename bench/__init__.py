"""bench: the harness that measures imgcls pipelines and models, records runs and tables them.

Its top-level modules are the shared vocabulary every package below uses (config, knobs, backends, records,
environment, paths). May import `imgcls` only; nothing here imports a `bench` package.
"""
