"""One measured run: set the process up, build pipeline and model, time the pipeline alone, the model alone and the
two together, sample memory, evaluate accuracy, and hand back a record.

May import `imgcls` and the shared vocabulary at the top of `bench` (config, knobs, backends, records, environment);
no other `bench` package.
"""
