"""Device entry point: the board file on flash says which pins exist."""
from doorapp import app

app.main("/board.json")
