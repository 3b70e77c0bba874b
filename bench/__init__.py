"""bench: the harness that measures imgcls pipelines and models, records runs and tables them."""
