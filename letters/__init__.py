"""letters: court-ordered notices to many people, in their language, with proof of what was sent."""

__version__ = "0.1.0"
