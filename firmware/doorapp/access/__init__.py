"""The access decision: the engine over the user table, schedules, lockouts, the Decision."""
