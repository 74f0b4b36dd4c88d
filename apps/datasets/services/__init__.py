"""Every write to a dataset, one module per thing it changes (datasets, records, versions, spans, jobs).
Each write batch locks the dataset row, makes exactly one version and touches only the records it changes.
Callers import from the module that holds the function."""
