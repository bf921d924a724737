"""doorctl host tools: simulator control, and (later) image build, flashing and user lists."""
__version__ = "0.1.0"
