"""Device entry point: the board file on flash says which pins exist."""
from doorapp import startup

startup.main("/board.json")
