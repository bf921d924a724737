"""config.json and secrets.json: schemas, password hashing, and changes made while running."""
