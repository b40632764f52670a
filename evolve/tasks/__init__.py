"""Task families of the program search: each module holds the seed program, the in-sandbox
driver (:class:`ChildDriver`) and the trusted parent-side scorer."""

TASKS = ("cfr", "psro")
