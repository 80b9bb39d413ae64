"""Reading a manifest (YAML, CSV, Excel) within bounds, checking it against the schema, filling templates."""
