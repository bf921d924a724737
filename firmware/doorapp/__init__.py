"""doorctl device application: services, access decision, configuration."""
VERSION = "0.1.0"
