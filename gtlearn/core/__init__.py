"""The core layer: what every package of gtlearn may import, and which imports none of them.

``errors`` (user-facing errors), ``backend`` (NumPy / CuPy array namespaces), ``io`` (atomic
writes), ``metrics`` (the shared gap record and divergences), ``run`` (run directories and
checkpoints), ``solver`` (the solver contract), ``driver`` (the one loop that runs any solver)
and ``registry`` (name -> class + config, one shape for every family).
"""
