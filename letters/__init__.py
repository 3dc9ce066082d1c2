"""letters: court-ordered notices to many people, in their language, with proof of what was sent."""

import os

# Arrow's bundled allocator (mimalloc) keeps memory it freed for its next use: reading an export
# of 100,000 people left some 90 MB more resident than the system's allocator, which is as fast
# here. Set before Arrow allocates anything (its C++ side reads the variable once); a value
# already in the environment still chooses.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

__version__ = "0.1.0"
