"""An example host application that embeds media-core (see README.md beside this file)."""
