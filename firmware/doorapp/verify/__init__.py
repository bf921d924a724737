"""Third-party verification (seed 004): the modes and two-factor logic, and its link into the door."""
