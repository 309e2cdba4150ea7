"""Pipeline steps: one module per function, each a pure, keyword-only, typed entry."""
