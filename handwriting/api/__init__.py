"""The Python API: what each command does, as functions that return data and print nothing
(cli/ parses arguments and formats these results). Public names are re-exported from
`handwriting` itself."""
