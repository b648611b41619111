"""One module per `apdraw` sub-command; see `apdraw.cli`."""
