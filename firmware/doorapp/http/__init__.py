"""The device HTTP API: the server, authentication and route table, and the routes."""
