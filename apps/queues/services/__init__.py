"""Every write with rules on review queues, one module per thing it changes: queues, filling, reviewing,
board. Callers import from the module that holds the function."""
