"""The difference and the convergence: diff, plans, rendering, applying, the CLI."""
