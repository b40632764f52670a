"""One module per CLI verb. Import only typer and gtlearn core here at module level."""
